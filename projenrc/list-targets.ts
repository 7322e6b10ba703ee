/**
 * The last step of `npx projen package`: prints what it generated, one line per jsii target, and
 * fails when a target it should have generated is missing. The JavaScript target is the npm tarball;
 * the others are generated as code only here (their toolchains build them in the release workflow).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** jsii-pacmak's target name and the folder package:check-targets generates it into. */
const CODE_ONLY = [
  ['python', 'dist/code-only/python'],
  ['java', 'dist/code-only/java'],
  ['dotnet', 'dist/code-only/dotnet'],
  ['go', 'dist/code-only/go'],
] as const;

function main(root: string): number {
  const lines: string[] = [];
  const missing: string[] = [];
  const jsDir = path.join(root, 'dist/js');
  const tarballs = fs.existsSync(jsDir) ? fs.readdirSync(jsDir).filter(f => f.endsWith('.tgz')) : [];
  if (tarballs.length === 1) {
    lines.push(`  js      dist/js/${tarballs[0]}  (npm package: npm install ./dist/js/${tarballs[0]})`);
  } else {
    missing.push(`js: expected one .tgz in dist/js, found ${tarballs.length ? tarballs.join(', ') : 'none'}`);
  }
  for (const [target, dir] of CODE_ONLY) {
    const abs = path.join(root, dir);
    if (fs.existsSync(abs) && fs.readdirSync(abs).length > 0) {
      lines.push(`  ${target.padEnd(7)} ${dir}/  (code only; built and published by the release workflow)`);
    } else {
      missing.push(`${target}: ${dir} is missing or empty`);
    }
  }
  console.log(`jsii targets generated:\n${lines.join('\n')}`);
  if (missing.length) {
    console.error(`package: not generated:\n${missing.map(m => `  ${m}`).join('\n')}`);
    return 1;
  }
  return 0;
}

process.exit(main(process.cwd()));
