export * from './schedule';
export * from './storage';
export type { BackupCronJobOptions } from './backup-cron-job';
export { Compression } from './backup-cron-job';
export * from './postgres';
export * from './mongo';
export * from './mysql';
export * from './redis';
