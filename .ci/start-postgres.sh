#!/usr/bin/env bash
# Starts a local PostgreSQL for the storage tests and prints the DSN.
#
# Use it either way; both are supported:
#
#   eval "$(bash .ci/start-postgres.sh)"   # run: stdout is exactly one line,
#                                          # the export line (eval its last line)
#   source .ci/start-postgres.sh           # sourced: also exports the variable
#                                          # into the calling shell
#
# Every progress message goes to stderr, so stdout carries only the final
#   export LEAKWATCH_TEST_POSTGRES_DSN=postgres://leakwatch:leakwatch@127.0.0.1:5432/leakwatch_test?sslmode=disable
#
# For a brand-new Debian machine, as root, with no service manager (no systemd):
# installs the postgresql package if it is missing (apt-get update first), starts
# the packaged cluster with pg_ctlcluster or, if there is none or it will not
# start, its own cluster (initdb + pg_ctl as the postgres user) in
# $LEAKWATCH_PG_DIR (default /tmp/leakwatch-pg) on 127.0.0.1:5432, waits for
# pg_isready, and creates the login role leakwatch/leakwatch (CREATEDB, since
# each test creates and drops its own database) and the database leakwatch_test.
#
# Idempotent: a server already accepting connections on 5432 is reused, and the
# role and database are created only when absent. Running it twice is fine.
# The credentials are for a throwaway local test server only.

_lw_pg_main() {
	set -euo pipefail

	local port=5432 role=leakwatch password=leakwatch db=leakwatch_test
	local own_dir="${LEAKWATCH_PG_DIR:-/tmp/leakwatch-pg}"
	local sock_dir=""

	log() { printf 'start-postgres: %s\n' "$*" >&2; }
	as_postgres() {
		if command -v runuser >/dev/null 2>&1; then
			runuser -u postgres -- "$@"
		else
			su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
		fi
	}
	pg_bin() {
		# Newest installed server version's binary directory.
		local d
		d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
		[[ -n "$d" ]] || return 1
		printf '%s\n' "$d"
	}
	ready() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" >/dev/null 2>&1; }
	wait_ready() {
		local i
		for i in $(seq 1 60); do
			ready && return 0
			sleep 1
		done
		return 1
	}

	if [[ $(id -u) -ne 0 ]]; then
		log "must run as root (installs packages and switches to the postgres user)"
		return 1
	fi

	# 1. Install the server if missing.
	local bindir
	if ! bindir=$(pg_bin) || [[ ! -x "$bindir/initdb" ]]; then
		log "installing postgresql with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update >&2
		apt-get install -y postgresql >&2
		bindir=$(pg_bin)
	fi
	log "using $bindir"

	# 2. Start a server unless one is already accepting connections.
	if ready; then
		log "a server is already accepting connections on 127.0.0.1:$port"
	else
		# The packaged cluster (Debian creates one on install), if it uses our port.
		local ver cluster
		ver=$(basename "$(dirname "$bindir")")
		cluster=""
		if command -v pg_lsclusters >/dev/null 2>&1; then
			cluster=$(pg_lsclusters --no-header 2>/dev/null |
				awk -v v="$ver" -v p="$port" '$1 == v && $3 == p { print $2; exit }')
		fi
		if [[ -n "$cluster" ]] && [[ ! -d "$own_dir/data" ]]; then
			log "starting packaged cluster $ver/$cluster with pg_ctlcluster"
			# Without systemd pg_ctlcluster runs pg_ctl itself; a failure here
			# falls through to our own cluster below.
			pg_ctlcluster "$ver" "$cluster" start >&2 || log "pg_ctlcluster failed; falling back to initdb"
			wait_ready || true
		fi
	fi
	if ready; then
		# Unix socket of the server that is up: the packaged default or ours.
		if [[ -S "$own_dir/sock/.s.PGSQL.$port" ]]; then
			sock_dir="$own_dir/sock"
		else
			sock_dir=/var/run/postgresql
		fi
	else
		sock_dir="$own_dir/sock"
		mkdir -p "$own_dir"
		chown postgres: "$own_dir"
		chmod 700 "$own_dir"
		as_postgres mkdir -p "$sock_dir"
		if [[ ! -s "$own_dir/data/PG_VERSION" ]]; then
			log "initdb into $own_dir/data"
			as_postgres "$bindir/initdb" -D "$own_dir/data" -U postgres -E UTF8 \
				--auth-local=peer --auth-host=scram-sha-256 >&2
		fi
		log "starting own cluster in $own_dir/data on 127.0.0.1:$port"
		as_postgres "$bindir/pg_ctl" -D "$own_dir/data" -l "$own_dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sock_dir" \
			start >&2 || { cat "$own_dir/server.log" >&2 || true; return 1; }
		if ! wait_ready; then
			log "server did not become ready; log:"
			cat "$own_dir/server.log" >&2 || true
			return 1
		fi
	fi
	log "server is ready (socket dir $sock_dir)"

	# 3. Role and database, created only when absent.
	local psql=("$bindir/psql" -h "$sock_dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
	as_postgres "${psql[@]}" >&2 <<-SQL
		DO \$\$
		BEGIN
			IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
				CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
			ELSE
				ALTER ROLE $role LOGIN CREATEDB PASSWORD '$password';
			END IF;
		END
		\$\$;
		-- DROP DATABASE ... WITH (FORCE) in the test cleanup ends whatever is
		-- still connected, autovacuum included, which needs this role.
		GRANT pg_signal_backend TO $role;
	SQL
	if [[ -z "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
		log "creating database $db"
		as_postgres "${psql[@]}" -c "CREATE DATABASE $db OWNER $role" >&2
	fi
	# Check the DSN really works over TCP with the password.
	PGPASSWORD="$password" "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$role" -d "$db" -qAt -c 'SELECT 1' >/dev/null

	printf 'export LEAKWATCH_TEST_POSTGRES_DSN=%s\n' \
		"postgres://$role:$password@127.0.0.1:$port/$db?sslmode=disable"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
	# Sourced: run in a subshell so set -euo pipefail and any failure stay out of
	# the caller's shell, then export the DSN here.
	_lw_pg_out=$( (_lw_pg_main) ) || {
		_lw_pg_rc=$?
		unset -f _lw_pg_main
		unset _lw_pg_out
		return "$_lw_pg_rc"
	}
	eval "${_lw_pg_out##*$'\n'}"
	printf '%s\n' "${_lw_pg_out##*$'\n'}"
	unset -f _lw_pg_main
	unset _lw_pg_out
else
	set -euo pipefail
	_lw_pg_main "$@"
fi
