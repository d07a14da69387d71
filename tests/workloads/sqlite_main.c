/* A real workload for jitslab-run: Debian's libsqlite3.a, linked by the JIT.
   Builds an in-memory table, runs a few queries and prints their results. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

static int print_row(void *unused, int n, char **values, char **names) {
  (void)unused;
  for (int i = 0; i < n; i++)
    printf("%s%s=%s", i ? " " : "", names[i], values[i] ? values[i] : "NULL");
  printf("\n");
  return 0;
}

static void run(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, print_row, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "sqlite error: %s\n", err);
    sqlite3_free(err);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int rows = argc > 1 ? atoi(argv[1]) : 1000;
  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK)
    return 1;
  printf("sqlite %s\n", sqlite3_libversion());
  run(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL)");
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO t(name, score) VALUES (?, ?)", -1, &ins, NULL);
  run(db, "BEGIN");
  for (int i = 0; i < rows; i++) {
    char name[32];
    snprintf(name, sizeof name, "row-%d", i % 97);
    sqlite3_bind_text(ins, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(ins, 2, (i * 7919) % 1000 / 10.0);
    sqlite3_step(ins);
    sqlite3_reset(ins);
  }
  run(db, "COMMIT");
  sqlite3_finalize(ins);
  run(db, "SELECT count(*) AS n, round(avg(score), 3) AS avg, max(score) AS max FROM t");
  run(db, "SELECT name, count(*) AS n FROM t GROUP BY name ORDER BY n DESC, name LIMIT 3");
  run(db, "SELECT printf('%.2f', sum(score * id) / 1e6) AS weighted FROM t");
  run(db, "WITH RECURSIVE f(n, v) AS (SELECT 1, 1 UNION ALL SELECT n + 1, v * (n + 1) "
          "FROM f WHERE n < 10) SELECT max(v) AS fact10 FROM f");
  sqlite3_close(db);
  return 0;
}
