/*
 * One PostgreSQL database per test program. scripts/with-postgres starts
 * one server for the whole suite and names a database in
 * SITESMITH_TEST_POSTGRES_URL; programs that run at the same time would
 * share it, and a worker pool in one of them would claim the other's jobs.
 * So before main() runs, each test program creates a database of its own on
 * that server and points the variable at it. Child processes, which
 * inherit the variable, use the same database; a marker variable keeps a
 * test program that runs itself as a child from making another one.
 *
 * The database is left behind: the server is deleted after the suite.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISOLATED_MARKER "SITESMITH_TEST_POSTGRES_ISOLATED"

/* Writes url with its database name replaced by name; -1 if it has none. */
static int replace_database(const char *url, const char *name, char *out,
                            size_t size)
{
    const char *authority = strstr(url, "://");
    const char *path;
    const char *end;

    if (!authority)
        return -1;
    path = strchr(authority + 3, '/');
    if (!path)
        return -1;
    end = path + 1 + strcspn(path + 1, "?");
    if ((size_t)snprintf(out, size, "%.*s/%s%s", (int)(path - url), url, name,
                         end) >= size)
        return -1;
    return 0;
}

__attribute__((constructor)) static void isolate_test_database(void)
{
    const char *url = getenv("SITESMITH_TEST_POSTGRES_URL");
    char name[64];
    char command[128];
    char isolated[2048];
    PGconn *conn;
    PGresult *result;

    if (!url || !*url || getenv(ISOLATED_MARKER))
        return;
    snprintf(name, sizeof(name), "sitesmith_t%ld_%d", (long)time(NULL),
             (int)getpid());
    if (replace_database(url, name, isolated, sizeof(isolated)) != 0) {
        fprintf(stderr, "test_postgres: cannot read the database name in "
                        "SITESMITH_TEST_POSTGRES_URL; sharing it\n");
        return;
    }
    conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "test_postgres: cannot connect: %s",
                PQerrorMessage(conn));
        PQfinish(conn);
        return;
    }
    snprintf(command, sizeof(command), "CREATE DATABASE %s", name);
    result = PQexec(conn, command);
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        fprintf(stderr, "test_postgres: %s failed: %s", command,
                PQerrorMessage(conn));
    } else {
        setenv("SITESMITH_TEST_POSTGRES_URL", isolated, 1);
        setenv(ISOLATED_MARKER, "1", 1);
    }
    PQclear(result);
    PQfinish(conn);
}
