import { hydraVitestConfig } from '../../vitest.shared.ts';

export default hydraVitestConfig({ browser: true, nodeOnly: ['src/platform-node.test.ts'] });
