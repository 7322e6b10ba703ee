import { MysqlEngine, readMysqlSettings } from '../../image/src/engines/mysql';
import { ENV } from '../../lib/contract';

const base = {
  [ENV.MYSQL_HOST]: 'db.example', [ENV.MYSQL_USER]: 'backup', [ENV.MYSQL_DATABASE]: 'shop', [ENV.MYSQL_PASSWORD]: 'p"w\\\\d',
};

describe('MySQL option file', () => {
  test('connection settings and the escaped password, TCP always, the client TLS default kept', () => {
    // The password p"w\\d (two backslashes) is written as "p\"w\\\\d".
    expect(new MysqlEngine(base).optionFile().split('\n')).toEqual([
      '[client]', 'host="db.example"', 'port=3306', 'user="backup"', String.raw`password="p\"w\\\\d"`, 'protocol=TCP', '',
    ]);
  });

  test('BACKUP_MYSQL_TLS=false adds skip-ssl', () => {
    expect(new MysqlEngine({ ...base, [ENV.MYSQL_TLS]: 'false' }).optionFile()).toMatch(/\nskip-ssl\n$/);
  });

  test('any other BACKUP_MYSQL_TLS value is a configuration error naming the variable', () => {
    expect(() => readMysqlSettings({ ...base, [ENV.MYSQL_TLS]: 'no' })).toThrow("BACKUP_MYSQL_TLS: 'no' must be 'true' or 'false'.");
  });
});
