import { hydraVitestConfig } from '../../vitest.shared';

export default hydraVitestConfig({ browser: false });
