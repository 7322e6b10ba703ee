/**
 * The release workflow's image jobs: one job per engine of the engine registry (lib/registry.ts),
 * each building image/Dockerfile's `engine` target for every platform the engine supports, pushing it
 * to ghcr.io tagged `<release version>-<engine>`, with an SBOM and a keyless cosign signature.
 *
 * They live in the release workflow (not a workflow triggered by the GitHub release): a release made
 * with GITHUB_TOKEN triggers no other workflow, and the version comes from the same release build
 * whose npm package defaults to that tag (lib/runner-pod.ts reads package.json's version).
 */
import { github, javascript } from 'projen';
import { JobPermission, type Job, type JobStep } from 'projen/lib/github/workflows-model';
import { IMAGE } from '../lib/contract';
import { ENGINE_REGISTRY, type EngineDescriptor } from '../lib/registry';

/** Docker's platform names of the images; an engine with a vendor download gets those it ships for. */
export const IMAGE_PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;

/** The id of the image job in the release workflow. */
export const IMAGE_JOB_ID = 'release_images';

/**
 * Third-party actions the image job uses. Dependabot proposes newer versions in the generated
 * workflow; projen owns that file, so a bump lands here (then `npx projen`).
 */
export const IMAGE_ACTIONS = {
  setupQemu: 'docker/setup-qemu-action@v3',
  setupBuildx: 'docker/setup-buildx-action@v3',
  login: 'docker/login-action@v3',
  buildPush: 'docker/build-push-action@v6',
  cosignInstaller: 'sigstore/cosign-installer@v3',
} as const;

/** One leg of the image matrix: what image/build.sh would pass to podman for the engine, for buildx. */
export interface ImageMatrixEntry {
  readonly engine: string;
  /** Space-separated Debian packages (ENGINE_PACKAGES). */
  readonly packages: string;
  /** Comma-separated buildx platforms. */
  readonly platforms: string;
  readonly download_url: string;
  /** The repository variable holding the download's sha256 (the registry's sha256Arg); '' without a download. */
  readonly sha256_variable: string;
  readonly download_architectures: string;
}

export function imageMatrix(registry: Readonly<Record<string, EngineDescriptor>> = ENGINE_REGISTRY): ImageMatrixEntry[] {
  return Object.values(registry).map(d => {
    const dl = d.image.download;
    const platforms = IMAGE_PLATFORMS.filter(p => !dl || dl.architectures.includes(p.slice('linux/'.length)));
    if (platforms.length === 0) {
      throw new Error(`lib/registry.ts: engine ${d.name}: image.download.architectures (${dl!.architectures.join(', ')}) shares no platform with ${IMAGE_PLATFORMS.join(', ')}`);
    }
    return {
      engine: d.name,
      packages: d.image.packages.join(' '),
      platforms: platforms.join(','),
      download_url: dl?.url ?? '',
      sha256_variable: dl?.sha256Arg ?? '',
      download_architectures: (dl?.architectures ?? []).join(' '),
    };
  });
}

/** Conditions of projen's own publish jobs: a new version, built from the commit still at the branch's head. */
const PUBLISH_CONDITION = "needs.release.outputs.tag_exists != 'true' && needs.release.outputs.latest_commit == github.sha";
const PUSH = '${{ !inputs.dry_run }}';

export function imageJob(project: javascript.NodeProject): Job {
  const sha256 = "${{ matrix.sha256_variable != '' && vars[matrix.sha256_variable] || '' }}";
  const steps: JobStep[] = [
    github.WorkflowSteps.checkout(),
    github.WorkflowSteps.downloadArtifact({
      name: 'Download the release build (its dist/version.txt is the version to tag)',
      with: { artifactIds: ['${{ needs.release.outputs.artifact_id }}'], path: 'dist' },
    }),
    ...project.renderWorkflowSetup({ mutable: false }),
    { name: 'Bundle the runner (image/build/runner.js, the build context)', run: 'npx projen bundle:runner' },
    {
      name: 'Plan the tag and check the vendor download',
      id: 'plan',
      env: {
        ENGINE: '${{ matrix.engine }}',
        REPOSITORY: IMAGE.REPOSITORY,
        DOWNLOAD_URL: '${{ matrix.download_url }}',
        SHA256_VARIABLE: '${{ matrix.sha256_variable }}',
        DOWNLOAD_SHA256: sha256,
      },
      run: [
        'version=$(cat dist/version.txt)',
        // The same check as image/build.sh: the version becomes part of an image tag.
        'if [[ ! $version =~ ^[0-9A-Za-z][0-9A-Za-z._-]*$ ]]; then',
        '  echo "::error::dist/version.txt holds \'$version\', which is not usable in an image tag"',
        '  exit 1',
        'fi',
        'if [[ -n $DOWNLOAD_URL && ! $DOWNLOAD_SHA256 =~ ^[0-9a-f]{64}$ ]]; then',
        '  echo "::error::$ENGINE: set the repository variable $SHA256_VARIABLE (Settings > Secrets and variables > Actions > Variables) to the sha256 of ${DOWNLOAD_URL##*/}"',
        '  exit 1',
        'fi',
        // lib/contract.ts imageTag(version, engine): the tag the library of this version defaults to.
        'echo "tag=$REPOSITORY:$version-$ENGINE" >> "$GITHUB_OUTPUT"',
        'echo "version=$version" >> "$GITHUB_OUTPUT"',
      ].join('\n'),
    },
    { name: 'Set up QEMU (arm64 on an amd64 runner)', uses: IMAGE_ACTIONS.setupQemu },
    { name: 'Set up Docker Buildx', uses: IMAGE_ACTIONS.setupBuildx },
    {
      name: 'Log in to ghcr.io',
      if: '${{ !inputs.dry_run }}',
      uses: IMAGE_ACTIONS.login,
      with: { registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' },
    },
    {
      name: 'Build and push ${{ steps.plan.outputs.tag }}',
      id: 'build',
      uses: IMAGE_ACTIONS.buildPush,
      with: {
        'context': 'image',
        'file': 'image/Dockerfile',
        'target': 'engine',
        'platforms': '${{ matrix.platforms }}',
        'build-args': [
          'ENGINE=${{ matrix.engine }}',
          'ENGINE_PACKAGES=${{ matrix.packages }}',
          'DOWNLOAD_URL=${{ matrix.download_url }}',
          `DOWNLOAD_SHA256=${sha256}`,
          'DOWNLOAD_SHA256_ARG=${{ matrix.sha256_variable }}',
          'DOWNLOAD_ARCHITECTURES=${{ matrix.download_architectures }}',
        ].join('\n'),
        'labels': [
          'org.opencontainers.image.source=${{ github.server_url }}/${{ github.repository }}',
          'org.opencontainers.image.revision=${{ github.sha }}',
          'org.opencontainers.image.version=${{ steps.plan.outputs.version }}',
        ].join('\n'),
        'tags': '${{ steps.plan.outputs.tag }}',
        'push': PUSH,
        // An SPDX SBOM and SLSA provenance, attached to the image index as attestations.
        'sbom': true,
        'provenance': 'mode=max',
      },
    },
    { name: 'Install cosign', if: '${{ !inputs.dry_run }}', uses: IMAGE_ACTIONS.cosignInstaller },
    {
      name: 'Sign the image (keyless: GitHub OIDC, Fulcio, Rekor)',
      if: '${{ !inputs.dry_run }}',
      env: { REPOSITORY: IMAGE.REPOSITORY, DIGEST: '${{ steps.build.outputs.digest }}' },
      // By digest: the index, so every platform and the attestations are covered.
      run: 'cosign sign --yes "$REPOSITORY@$DIGEST"',
    },
  ];
  return {
    name: 'Publish image (${{ matrix.engine }})',
    needs: ['release'],
    if: PUBLISH_CONDITION,
    runsOn: ['ubuntu-latest'],
    permissions: {
      contents: JobPermission.READ,
      packages: JobPermission.WRITE,
      // cosign's keyless signing asks GitHub for an OIDC token.
      idToken: JobPermission.WRITE,
    },
    strategy: {
      failFast: false,
      matrix: { include: imageMatrix() as unknown as Array<Record<string, string>> },
    },
    steps,
  };
}
