import { mysqlOptionFile, readMysqlSettings } from '../../image/src/engines/mysql';
import { ENGINE_REGISTRY } from '../../lib/registry';

const V = ENGINE_REGISTRY.mysql.env;
const base = { [V.HOST]: 'db.example', [V.USER]: 'backup', [V.DATABASE]: 'shop', [V.PASSWORD]: 'p"w\\\\d' };
const MARIADB = { name: 'mariadb-dump', version: '11.8.9-MariaDB' };
const MYSQL = { name: 'mysqldump', version: '8.0.36' };
const optionFile = (env: NodeJS.ProcessEnv, tool = MARIADB) => mysqlOptionFile(readMysqlSettings(env), tool);

describe('MySQL option file', () => {
  test('connection settings and the escaped password, TCP always, the client TLS default kept', () => {
    // The password p"w\\d (two backslashes) is written as "p\"w\\\\d".
    expect(optionFile(base).split('\n')).toEqual([
      '[client]', 'host="db.example"', 'port=3306', 'user="backup"', String.raw`password="p\"w\\\\d"`, 'protocol=TCP', '',
    ]);
  });

  test.each([
    [MARIADB, 'skip-ssl'],
    [MYSQL, 'ssl-mode=DISABLED'],
  ])('BACKUP_MYSQL_TLS=false for %j: %s', (tool, line) => {
    expect(optionFile({ ...base, [V.TLS]: 'false' }, tool)).toMatch(new RegExp(`\nprotocol=TCP\n${line}\n$`));
  });

  test.each([
    [MARIADB, 'ssl-verify-server-cert'],
    [MYSQL, 'ssl-mode=VERIFY_IDENTITY'],
  ])('BACKUP_MYSQL_TLS_CA_FILE for %j: ssl-ca, and TLS required and verified with %s', (tool, line) => {
    expect(optionFile({ ...base, [V.TLS_CA_FILE]: '/etc/cdk8s-db-backup/tls/ca.crt' }, tool))
      .toMatch(new RegExp(`\nprotocol=TCP\nssl-ca="/etc/cdk8s-db-backup/tls/ca\\.crt"\n${line}\n$`));
  });

  test('any other BACKUP_MYSQL_TLS value is a configuration error naming the variable', () => {
    expect(() => readMysqlSettings({ ...base, [V.TLS]: 'no' })).toThrow("BACKUP_MYSQL_TLS: 'no' must be 'true' or 'false'.");
  });
});
