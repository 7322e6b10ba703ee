import { dumpToolRelease } from '../../image/src/engines/mysql';

test.each([
  ['mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)', '10.11.19-MariaDB'],
  ['mariadb-dump from 11.8.9-MariaDB, client 10.20 for debian-linux-gnu (x86_64)', '11.8.9-MariaDB'],
  ['mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)', '8.0.36'],
  ['something else entirely', undefined],
])('the dump tool release in %j', (output, release) => {
  expect(dumpToolRelease(output)).toBe(release);
});
