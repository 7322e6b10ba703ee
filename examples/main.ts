import { App } from 'cdk8s';
import { BackupsChart } from './backups-chart';

const app = new App();
new BackupsChart(app, 'backups', { namespace: 'backups' });
app.synth();
