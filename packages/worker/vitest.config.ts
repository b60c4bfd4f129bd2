import { hydraVitestConfig } from '../../vitest.shared.ts';

export default hydraVitestConfig({ browser: false });
