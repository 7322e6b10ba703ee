export * from './schedule';
export * from './storage';
export { BackupCronJobOptions, Compression } from './backup-cron-job';
export * from './postgres';
export * from './mongo';
