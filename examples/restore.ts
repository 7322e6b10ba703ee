// A second cdk8s app for the restore Job, applied by hand, so the GitOps manifests never contain it:
//   npx cdk8s synth --app 'npx ts-node --project tsconfig.json restore.ts' --output restore
// BACKUP_ID=<id from the image's `list` command> restores that backup instead of the newest one.
import { App } from 'cdk8s';
import { RestoreChart } from './restore-chart';

const app = new App();
new RestoreChart(app, 'restore', { namespace: 'backups', backupId: process.env.BACKUP_ID || undefined });
app.synth();
