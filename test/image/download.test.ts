/**
 * The engine stage's vendor-download path (MongoDB's .deb in the registry) cannot be built here:
 * the vendor's site is out of reach. What it must refuse is checked for real, by building the same
 * stage with podman and a download that is never fetched: without a well-formed sha256, or for an
 * architecture the vendor does not ship, the build stops before anything is downloaded or installed.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { DOCKERFILE, ROOT } from './container';
import { describeIntegration } from '../servers/env';
import { cacheDir, podmanSync } from '../servers/image';

jest.setTimeout(120_000);

/** Runs `podman build` of the engine stage with build.sh's podman setup; resolves with its exit code and output. */
function buildEngineStage(buildArgs: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const base = podmanSync(['image', 'ls', '--sort', 'created', '--format', '{{.Repository}}:{{.Tag}}', 'localhost/cdk8s-db-backup-base'])
    .trim().split('\n').pop()!;
  const args = [
    'build', '--network', 'host', '--pull=never', '--target', 'engine', '--build-arg', `BASE=${base}`,
    ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    '-f', DOCKERFILE, path.join(ROOT, 'image'),
  ];
  const envFile = path.join(cacheDir(), 'podman', 'env.sh');
  const child = spawn('bash', ['-c', 'source "$0" && exec podman "$@"', envFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', d => { output += d; });
  child.stderr.on('data', d => { output += d; });
  return new Promise(resolve => child.on('close', code => resolve({ code, output })));
}

describeIntegration('image build: a vendor download is refused before it is fetched', ['image:postgres', 'root'], () => {
  const arch = () => podmanSync(['info', '--format', '{{.Host.Arch}}']).trim();
  // Never fetched: nothing listens there, and each build must stop before trying.
  const download = {
    ENGINE: 'vendor',
    ENGINE_PACKAGES: 'zstd',
    DOWNLOAD_URL: 'http://127.0.0.1:9/vendor-tools_1.0_amd64.deb',
    DOWNLOAD_SHA256_ARG: 'VENDOR_TOOLS_SHA256',
  };

  test('without a sha256: the build stops, naming the variable to set and the file', async () => {
    for (const sha256 of ['', 'not-a-sha256', 'A'.repeat(64)]) {
      const { code, output } = await buildEngineStage({ ...download, DOWNLOAD_SHA256: sha256, DOWNLOAD_ARCHITECTURES: arch() });
      expect({ sha256, failed: code !== 0, installing: output.includes('Reading package lists') }).toEqual({ sha256, failed: true, installing: false });
      expect(output).toContain('vendor: set VENDOR_TOOLS_SHA256 to the sha256 of vendor-tools_1.0_amd64.deb');
    }
  });

  test('for an architecture the vendor does not ship: the build stops, naming the ones it does', async () => {
    const { code, output } = await buildEngineStage({ ...download, DOWNLOAD_SHA256: 'a'.repeat(64), DOWNLOAD_ARCHITECTURES: 's390x' });
    expect(code).not.toBe(0);
    expect(output).toContain(`vendor: vendor-tools_1.0_amd64.deb is shipped for s390x only, not ${arch()}`);
    expect(output).not.toContain('Reading package lists');
  });

  test('without ENGINE_PACKAGES (a build not fed from the registry): the build stops, saying where they come from', async () => {
    const { code, output } = await buildEngineStage({ ENGINE: 'vendor' });
    expect(code).not.toBe(0);
    expect(output).toContain('vendor: set the build argument ENGINE_PACKAGES to the engine\'s Debian packages (image/build.sh --print-plan shows them)');
  });
});
