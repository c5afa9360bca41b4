package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migration is one step of the schema. Steps are never edited once released; a
// change is a new step at the end of the list.
type migration struct {
	version int
	name    string
	// sql is dialect-neutral DDL; see ddl for the placeholders.
	sql []string
	// dialectSQL holds extra statements for one dialect.
	dialectSQL map[string][]string
}

// migrations is the one ordered list of schema versions.
var migrations = []migration{
	{
		version: 1,
		name:    "initial schema",
		sql: []string{
			`CREATE TABLE sources (
				id {{id}}, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, url TEXT NOT NULL,
				every_secs BIGINT NOT NULL DEFAULT 0, enabled {{bool}} NOT NULL DEFAULT {{true}},
				created_at {{ts}}, updated_at {{ts}})`,
			`CREATE TABLE crawl_runs (
				id {{id}}, source_id BIGINT NOT NULL, started_at {{ts}}, finished_at {{ts}},
				status TEXT NOT NULL, error TEXT, pages BIGINT, files BIGINT, hits BIGINT)`,
			`CREATE INDEX idx_crawl_runs_source_id ON crawl_runs (source_id)`,
			`CREATE TABLE captures (
				id {{id}}, run_id BIGINT NOT NULL, source_id BIGINT NOT NULL, kind TEXT NOT NULL,
				url TEXT NOT NULL, final_url TEXT, host TEXT, fetched_at {{ts}}, status BIGINT,
				content_type TEXT, sniffed_type TEXT, sha256 TEXT, size BIGINT,
				truncated {{bool}}, error TEXT)`,
			`CREATE UNIQUE INDEX idx_capture_run_url ON captures (run_id, url)`,
			`CREATE INDEX idx_captures_source_id ON captures (source_id)`,
			`CREATE INDEX idx_captures_host ON captures (host)`,
			`CREATE INDEX idx_captures_sha256 ON captures (sha256)`,
			`CREATE TABLE "references" (
				id {{id}}, opaque_id TEXT NOT NULL UNIQUE, name TEXT, size BIGINT,
				sha256 TEXT NOT NULL, created_at {{ts}})`,
			`CREATE INDEX idx_references_sha256 ON "references" (sha256)`,
			`CREATE TABLE hits (
				id {{id}}, capture_id BIGINT NOT NULL, reference_id BIGINT NOT NULL,
				method TEXT NOT NULL, score DOUBLE PRECISION, why TEXT, target TEXT NOT NULL,
				created_at {{ts}}, dispatched_at {{ts}})`,
			`CREATE UNIQUE INDEX idx_hit_capture_ref_method ON hits (capture_id, reference_id, method)`,
			`CREATE INDEX idx_hits_target ON hits (target)`,
			`CREATE INDEX idx_hits_dispatched_at ON hits (dispatched_at)`,
			`CREATE TABLE cases (
				id {{id}}, target TEXT NOT NULL UNIQUE, workflow_id TEXT NOT NULL UNIQUE,
				state TEXT NOT NULL, recipient TEXT, opened_at {{ts}}, updated_at {{ts}},
				closed_at {{ts}})`,
			`CREATE TABLE notices (
				id {{id}}, case_id BIGINT NOT NULL, revision BIGINT NOT NULL, state TEXT NOT NULL,
				recipient TEXT NOT NULL, subject TEXT NOT NULL, body_text TEXT NOT NULL,
				body_html TEXT NOT NULL, hit_ids TEXT, drafted_by TEXT NOT NULL, drafted_at {{ts}},
				approved_by TEXT, approved_at {{ts}}, message_id TEXT NOT NULL UNIQUE,
				sent_at {{ts}}, attempts BIGINT, last_error TEXT)`,
			`CREATE UNIQUE INDEX idx_notice_case_rev ON notices (case_id, revision)`,
			`CREATE TABLE users (
				id {{id}}, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
				role TEXT NOT NULL, totp_secret TEXT, failed_logins BIGINT NOT NULL DEFAULT 0,
				locked_until {{ts}}, disabled {{bool}} NOT NULL DEFAULT {{false}},
				created_at {{ts}}, updated_at {{ts}})`,
			`CREATE TABLE sessions (
				id {{id}}, token_hash TEXT NOT NULL UNIQUE, user_id BIGINT NOT NULL,
				csrf_token TEXT NOT NULL, created_at {{ts}}, expires_at {{ts}})`,
			`CREATE INDEX idx_sessions_user_id ON sessions (user_id)`,
			`CREATE INDEX idx_sessions_expires_at ON sessions (expires_at)`,
			`CREATE TABLE audit_events (
				id {{id}}, at {{ts}}, actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT,
				detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE)`,
		},
		// The audit log is append-only in the database itself, not only in our code.
		dialectSQL: map[string][]string{
			DialectSQLite: {
				`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
				BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`,
				`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
				BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`,
			},
			DialectPostgres: {
				`CREATE FUNCTION leakwatch_audit_append_only() RETURNS trigger AS $$
				BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
				FOR EACH ROW EXECUTE FUNCTION leakwatch_audit_append_only()`,
			},
		},
	},
	{
		version: 2,
		name:    "fingerprint index",
		sql: []string{
			`ALTER TABLE "references" ADD COLUMN kind TEXT`,
			`ALTER TABLE "references" ADD COLUMN md5 TEXT`,
			`ALTER TABLE "references" ADD COLUMN sha1 TEXT`,
			`ALTER TABLE "references" ADD COLUMN text_digest TEXT`,
			`ALTER TABLE "references" ADD COLUMN text_len BIGINT`,
			`ALTER TABLE "references" ADD COLUMN tlsh TEXT`,
			`ALTER TABLE "references" ADD COLUMN prints BIGINT`,
			`ALTER TABLE "references" ADD COLUMN path_mac TEXT`,
			`ALTER TABLE "references" ADD COLUMN mtime BIGINT`,
			`ALTER TABLE "references" ADD COLUMN parent_id BIGINT`,
			`ALTER TABLE "references" ADD COLUMN error TEXT`,
			`CREATE INDEX idx_references_text_digest ON "references" (text_digest)`,
			`CREATE INDEX idx_references_path_mac ON "references" (path_mac)`,
			`CREATE INDEX idx_references_md5 ON "references" (md5)`,
			`CREATE INDEX idx_references_sha1 ON "references" (sha1)`,
			// Winnowing fingerprints: keyed 64-bit hashes stored as signed BIGINT.
			`CREATE TABLE ref_prints (hash BIGINT NOT NULL, ref_id BIGINT NOT NULL)`,
			`CREATE INDEX idx_ref_prints_hash ON ref_prints (hash)`,
			`CREATE INDEX idx_ref_prints_ref ON ref_prints (ref_id)`,
			// Keyed PDQ hashes of a reference's images, all 8 rotations/flips.
			`CREATE TABLE ref_images (ref_id BIGINT NOT NULL, image BIGINT NOT NULL, variant BIGINT NOT NULL,
				hash TEXT NOT NULL, quality BIGINT NOT NULL)`,
			`CREATE INDEX idx_ref_images_ref ON ref_images (ref_id)`,
			// Keyed exact-data-match field hashes, one row per field of each record.
			`CREATE TABLE ref_fields (field TEXT NOT NULL, hash TEXT NOT NULL, ref_id BIGINT NOT NULL, row_no BIGINT NOT NULL)`,
			`CREATE INDEX idx_ref_fields_hash ON ref_fields (hash)`,
			`CREATE INDEX idx_ref_fields_ref ON ref_fields (ref_id, row_no)`,
			// Keyed patient identifiers (NHI) a reference mentions, to count patients exposed.
			`CREATE TABLE ref_patients (ref_id BIGINT NOT NULL, patient TEXT NOT NULL)`,
			`CREATE INDEX idx_ref_patients_ref ON ref_patients (ref_id)`,
			`CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
			// How much of the breach one capture exposes.
			`ALTER TABLE captures ADD COLUMN refs BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE captures ADD COLUMN patients BIGINT NOT NULL DEFAULT 0`,
		},
	},
	{
		version: 3,
		name:    "match in memory",
		sql: []string{
			// Matching reads the index into memory (package memindex), so
			// nothing looks fingerprints up by hash any more. On 22 million
			// random keys these indexes made a breach-scale build
			// I/O-bound; the tables are only scanned and deleted by ref_id.
			`DROP INDEX IF EXISTS idx_ref_prints_hash`,
			`DROP INDEX IF EXISTS idx_ref_fields_hash`,
			`DROP INDEX IF EXISTS idx_references_text_digest`,
		},
	},
	{
		version: 4,
		name:    "crawl run summary and liveness",
		sql: []string{
			// What the sources screen shows of a run, and when its crawler
			// last reported: a run nobody has touched for a while died
			// with its process and is marked interrupted.
			`ALTER TABLE crawl_runs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE crawl_runs ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE crawl_runs ADD COLUMN stopped TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE crawl_runs ADD COLUMN errors TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE crawl_runs ADD COLUMN heartbeat_at {{ts}}`,
			`CREATE INDEX idx_crawl_runs_status ON crawl_runs (status)`,
		},
	},
	{
		version: 5,
		name:    "evidence",
		sql: []string{
			// Where each capture's raw exchange sits in the WARC files, as
			// the evidence package's Record (JSON), and its redirect hops.
			`ALTER TABLE captures ADD COLUMN evidence TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE captures ADD COLUMN redirects TEXT NOT NULL DEFAULT ''`,
			// A run is sealed by a Merkle root over its captures' payload
			// digests and, with a TSA configured, an RFC 3161 token on it.
			`ALTER TABLE crawl_runs ADD COLUMN merkle_root TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE crawl_runs ADD COLUMN tsa_url TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE crawl_runs ADD COLUMN tsa_token TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE crawl_runs ADD COLUMN stamped_at {{ts}}`,
		},
	},
	{
		version: 6,
		name:    "source options",
		sql: []string{
			// A source's own crawl settings (selectors, URL filters, limits,
			// proxy, watch terms), as JSON: they grow with the crawler.
			`ALTER TABLE sources ADD COLUMN options TEXT NOT NULL DEFAULT '{}'`,
		},
	},
	{
		version: 7,
		name:    "url states",
		sql: []string{
			// What the last crawls learnt of each file URL of a source: its
			// validators for conditional requests, and the digest and index
			// generation it was last matched at, so an unchanged file is
			// neither downloaded nor matched again.
			`CREATE TABLE url_states (
				source_id BIGINT NOT NULL,
				url TEXT NOT NULL,
				sha256 TEXT NOT NULL DEFAULT '',
				size BIGINT NOT NULL DEFAULT 0,
				etag TEXT NOT NULL DEFAULT '',
				last_modified TEXT NOT NULL DEFAULT '',
				index_generation BIGINT NOT NULL DEFAULT 0,
				capture_id BIGINT NOT NULL DEFAULT 0,
				fetched_at {{ts}},
				PRIMARY KEY (source_id, url)
			)`,
		},
	},
	{
		version: 8,
		name:    "reference crc32",
		sql: []string{
			// With the size, what an archive's central directory records of
			// each member: a dump too big to download is matched from its
			// directory. References indexed before this have 0 (no match).
			`ALTER TABLE "references" ADD COLUMN crc32 BIGINT NOT NULL DEFAULT 0`,
		},
	},
	{
		version: 9,
		name:    "crawl frontier",
		sql: []string{
			// A run's frontier: every URL it queued, and whether its fetch
			// was recorded, so a crawl interrupted by a crash resumes where
			// it stopped instead of walking the site again.
			`CREATE TABLE crawl_frontier (
				run_id BIGINT NOT NULL,
				url TEXT NOT NULL,
				depth INTEGER NOT NULL DEFAULT 0,
				fetched {{bool}} NOT NULL DEFAULT {{false}},
				PRIMARY KEY (run_id, url)
			)`,
		},
	},
	{
		version: 10,
		name:    "revisits",
		sql: []string{
			// Pages get a state too, so a page that has not changed is not
			// fetched again every run: whether it is a page, the digest
			// of its content and structural links, whether that changed on
			// its last fetch, the links to follow in its place, and how
			// many references it matched (a hit is checked every run).
			`ALTER TABLE url_states ADD COLUMN kind TEXT NOT NULL DEFAULT 'file'`,
			`ALTER TABLE url_states ADD COLUMN content_sha256 TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE url_states ADD COLUMN changed {{bool}} NOT NULL DEFAULT {{true}}`,
			`ALTER TABLE url_states ADD COLUMN links TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE url_states ADD COLUMN refs INTEGER NOT NULL DEFAULT 0`,
			// Fetches per host over a window, for per-host budgets that
			// hold across runs and sources.
			`CREATE INDEX idx_captures_host_fetched ON captures (host, fetched_at)`,
			// URLs skipped as fresh, for the sources screen.
			`ALTER TABLE crawl_runs ADD COLUMN fresh INTEGER NOT NULL DEFAULT 0`,
		},
	},
	{
		version: 11,
		name:    "print segments",
		sql: []string{
			// Winnowing prints move out of the database into immutable
			// segment files beside it (internal/references/segment), which
			// every matching process memory-maps: at breach scale they are
			// 232 M rows, 8 GB on disk and minutes to load. The database
			// keeps which segments exist and are complete ...
			`CREATE TABLE ref_segments (
				id {{id}},
				name TEXT NOT NULL DEFAULT '',
				state TEXT NOT NULL DEFAULT 'writing',
				postings BIGINT NOT NULL DEFAULT 0,
				refs BIGINT NOT NULL DEFAULT 0,
				bytes BIGINT NOT NULL DEFAULT 0,
				checksum TEXT NOT NULL DEFAULT '',
				created_at {{ts}},
				ready_at {{ts}}
			)`,
			// ... and, per reference, the segment holding its prints (0:
			// none, or still in ref_prints from before), and whether it was
			// replaced by a newer import (kept as history for its hits; its
			// postings, still in an old segment, no longer match).
			`ALTER TABLE "references" ADD COLUMN segment BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE "references" ADD COLUMN retired {{bool}} NOT NULL DEFAULT {{false}}`,
		},
	},
	{
		version: 12,
		name:    "telegram",
		sql: []string{
			// A Telegram user account the monitor signs in as. The MTProto
			// session (its auth key) is sealed with a key derived from the
			// fingerprint key, which never enters the database: a copied
			// database cannot sign in as the account. Status is what
			// `telegram status` and the UI show; a dead session stays dead
			// (no reconnect loop) until someone logs in again.
			`CREATE TABLE tg_accounts (
				name TEXT PRIMARY KEY,
				phone TEXT NOT NULL DEFAULT '',
				user_id BIGINT NOT NULL DEFAULT 0,
				session {{blob}},
				status TEXT NOT NULL DEFAULT 'logged-out',
				detail TEXT NOT NULL DEFAULT '',
				flood_until {{ts}},
				updated_at {{ts}}
			)`,
			// A watched channel (a source of kind telegram): resolved once,
			// since resolveUsername flood waits can last hours, and the
			// cursors that let a restart resume with no gap and no repeat:
			// top_id is the newest message recorded, backfill_next the
			// message id the history walk goes on below (0: not started),
			// backfilled how many it recorded, backfill_done when it
			// reached the entry's depth or the channel's start.
			`CREATE TABLE tg_channels (
				source_id BIGINT PRIMARY KEY,
				channel_id BIGINT NOT NULL DEFAULT 0,
				access_hash BIGINT NOT NULL DEFAULT 0,
				username TEXT NOT NULL DEFAULT '',
				title TEXT NOT NULL DEFAULT '',
				resolved_at {{ts}},
				top_id BIGINT NOT NULL DEFAULT 0,
				backfill_next BIGINT NOT NULL DEFAULT 0,
				backfill_done {{bool}} NOT NULL DEFAULT {{false}},
				backfilled BIGINT NOT NULL DEFAULT 0,
				messages BIGINT NOT NULL DEFAULT 0,
				gone TEXT NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX idx_tg_channels_channel ON tg_channels (channel_id)`,
			// The updates manager's state per Telegram user (gotd's
			// updates.StateStorage), so a restarted live monitor asks for
			// the difference since where it stopped instead of losing it.
			`CREATE TABLE tg_update_states (
				user_id BIGINT PRIMARY KEY,
				pts INTEGER NOT NULL DEFAULT 0,
				qts INTEGER NOT NULL DEFAULT 0,
				date INTEGER NOT NULL DEFAULT 0,
				seq INTEGER NOT NULL DEFAULT 0
			)`,
			`CREATE TABLE tg_channel_states (
				user_id BIGINT NOT NULL,
				channel_id BIGINT NOT NULL,
				pts INTEGER NOT NULL DEFAULT 0,
				access_hash BIGINT NOT NULL DEFAULT 0,
				PRIMARY KEY (user_id, channel_id)
			)`,
			// Whether a source already recorded a message or file, across
			// runs (a pass that died before saving its cursor).
			`CREATE INDEX idx_captures_source_url ON captures (source_id, url)`,
			// Media already downloaded whole, by Telegram's own id (a
			// document or photo reposted or forwarded keeps it): a repost
			// is recorded as evidence without downloading it again.
			`CREATE TABLE tg_media (
				media_id BIGINT NOT NULL,
				kind TEXT NOT NULL,
				sha256 TEXT NOT NULL,
				size BIGINT NOT NULL,
				capture_id BIGINT NOT NULL,
				PRIMARY KEY (kind, media_id)
			)`,
		},
	},
	{
		version: 13,
		name:    "case lifecycle",
		sql: []string{
			// One infringing item per URL (or Telegram message) of a case:
			// what a notice lists, an analyst triages and verification
			// re-checks. Several hits on one URL (one per reference and
			// layer) are one item. Never content: the URL, the hash of the
			// latest capture and what people decided about it.
			`CREATE TABLE case_items (
				id {{id}},
				case_id BIGINT NOT NULL,
				url TEXT NOT NULL,
				first_capture_id BIGINT NOT NULL DEFAULT 0,
				last_capture_id BIGINT NOT NULL DEFAULT 0,
				sha256 TEXT NOT NULL DEFAULT '',
				size BIGINT NOT NULL DEFAULT 0,
				captured_at {{ts}},
				state TEXT NOT NULL DEFAULT 'new',
				reason TEXT NOT NULL DEFAULT '',
				triaged_by TEXT NOT NULL DEFAULT '',
				triaged_at {{ts}},
				notice_id BIGINT NOT NULL DEFAULT 0,
				listed_at {{ts}},
				removed_at {{ts}},
				checked_at {{ts}},
				check_result TEXT NOT NULL DEFAULT '',
				checks INTEGER NOT NULL DEFAULT 0,
				reappeared INTEGER NOT NULL DEFAULT 0,
				created_at {{ts}},
				UNIQUE (case_id, url)
			)`,
			`ALTER TABLE hits ADD COLUMN item_id BIGINT NOT NULL DEFAULT 0`,
			// Each re-check of a listed item: the court-grade record that
			// it was still up, or gone.
			`CREATE TABLE removal_checks (
				id {{id}},
				case_id BIGINT NOT NULL,
				item_id BIGINT NOT NULL,
				checked_at {{ts}},
				result TEXT NOT NULL,
				detail TEXT NOT NULL DEFAULT '',
				capture_id BIGINT NOT NULL DEFAULT 0
			)`,
			`CREATE INDEX idx_removal_checks_item ON removal_checks (item_id, checked_at)`,
			// A notice is a logical letter (reference, kind, number per
			// recipient) with revisions; the sent revision is frozen and
			// hashed, and records what the relay answered.
			`ALTER TABLE notices ADD COLUMN kind TEXT NOT NULL DEFAULT 'notice'`,
			`ALTER TABLE notices ADD COLUMN reference TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE notices ADD COLUMN number INTEGER NOT NULL DEFAULT 1`,
			`ALTER TABLE notices ADD COLUMN recipient_type TEXT NOT NULL DEFAULT 'hosting'`,
			`ALTER TABLE notices ADD COLUMN cites TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE notices ADD COLUMN item_ids TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE notices ADD COLUMN comment TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE notices ADD COLUMN body_sha256 TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE notices ADD COLUMN relay_response TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE notices ADD COLUMN data_started_at {{ts}}`,
			`ALTER TABLE notices ADD COLUMN pdf {{blob}}`,
			// What the case learnt after sending, for the UI and metrics.
			`ALTER TABLE cases ADD COLUMN acked_at {{ts}}`,
			`ALTER TABLE cases ADD COLUMN ack_note TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE cases ADD COLUMN verified_at {{ts}}`,
			`ALTER TABLE cases ADD COLUMN escalated_at {{ts}}`,
			`ALTER TABLE cases ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE cases ADD COLUMN detail TEXT NOT NULL DEFAULT ''`,
		},
	},
	{
		version: 14,
		name:    "notice numbering index",
		sql: []string{
			// Drafting numbers a notice per recipient and kind (CountSent):
			// without this index every draft read the whole notices table,
			// bodies and PDFs included (1 s a draft at 4,000 cases).
			`CREATE INDEX idx_notices_recipient_kind_state ON notices (recipient, kind, state)`,
		},
	},
	{
		version: 15,
		name:    "content noticed elsewhere",
		sql: []string{
			// The sent notices of other cases (other hosts or channels) that
			// listed the same references: a mirror's first notice cites them.
			`ALTER TABLE case_items ADD COLUMN earlier TEXT NOT NULL DEFAULT ''`,
			// Finding those notices starts from the references a hit matched.
			`CREATE INDEX idx_hits_reference ON hits (reference_id)`,
		},
	},
	{
		version: 16,
		name:    "noticed references",
		sql: []string{
			// Which references each sent notice listed, written when it is
			// sent: a new item looks up "noticed elsewhere" by reference in
			// a handful of rows. Reading it from hits by reference scanned
			// every hit of a widely reposted file, per batch (bench cases:
			// TakeHits 12 ms -> 216 ms at 10,000 hosts).
			`CREATE TABLE noticed_refs (
				reference_id BIGINT NOT NULL,
				notice_id BIGINT NOT NULL,
				case_id BIGINT NOT NULL,
				PRIMARY KEY (reference_id, notice_id)
			)`,
			`INSERT INTO noticed_refs (reference_id, notice_id, case_id)
				SELECT DISTINCT hits.reference_id, case_items.notice_id, case_items.case_id
				FROM hits JOIN case_items ON case_items.id = hits.item_id
				WHERE case_items.notice_id <> 0 AND hits.reference_id <> 0`,
			`DROP INDEX idx_hits_reference`,
			// A case's hits by item (the case page, and the insert above
			// when a notice is sent).
			`CREATE INDEX idx_hits_item ON hits (item_id)`,
		},
	},
	{
		version: 17,
		name:    "accounts: mfa, throttling, session expiry",
		sql: []string{
			// The last TOTP time step accepted per user: a code is accepted
			// only if its step is newer, across restarts and processes.
			`ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE users ADD COLUMN last_login_at {{ts}}`,
			// Idle expiry, and a TOTP secret being enrolled (never trusted
			// from a form) until the user confirms it with a code.
			`ALTER TABLE sessions ADD COLUMN last_seen_at {{ts}}`,
			`ALTER TABLE sessions ADD COLUMN pending_totp TEXT NOT NULL DEFAULT ''`,
			`CREATE TABLE recovery_codes (
				id {{id}}, user_id BIGINT NOT NULL, code_hash TEXT NOT NULL UNIQUE,
				created_at {{ts}}, used_at {{ts}})`,
			`CREATE INDEX idx_recovery_codes_user ON recovery_codes (user_id)`,
			// Failed logins per (account, source network) and per account
			// (source "*"); account is a hash of the typed name, so unknown
			// names are throttled alike and not stored.
			`CREATE TABLE login_throttles (
				account TEXT NOT NULL, source TEXT NOT NULL, failures BIGINT NOT NULL DEFAULT 0,
				next_at {{ts}}, updated_at {{ts}}, PRIMARY KEY (account, source))`,
			// Browsers that logged in before: exempt from the account-wide
			// delay a distributed guess triggers (OWASP device cookies).
			`CREATE TABLE known_devices (
				token_hash TEXT NOT NULL, user_id BIGINT NOT NULL, created_at {{ts}},
				PRIMARY KEY (token_hash, user_id))`,
			`CREATE INDEX idx_known_devices_user ON known_devices (user_id)`,
		},
	},
	{
		version: 18,
		name:    "api tokens",
		sql: []string{
			// Tokens for automation: only the hash is kept, and a token acts
			// as its user, with that user's role.
			`CREATE TABLE api_tokens (
				id {{id}}, name TEXT NOT NULL, user_id BIGINT NOT NULL,
				token_hash TEXT NOT NULL UNIQUE, created_by TEXT NOT NULL,
				created_at {{ts}}, last_used_at {{ts}}, expires_at {{ts}}, revoked_at {{ts}})`,
			`CREATE INDEX idx_api_tokens_user_id ON api_tokens (user_id)`,
		},
	},
	{
		version: 19,
		name:    "webhook outbox",
		sql: []string{
			// Events for webhooks, appended in the same transaction as the
			// change they announce (an outbox): a crash cannot lose one or
			// announce a change that rolled back.
			`CREATE TABLE webhook_events (
				id {{id}},
				kind TEXT NOT NULL,
				case_id BIGINT NOT NULL DEFAULT 0,
				payload TEXT NOT NULL,
				created_at {{ts}}
			)`,
			// How far each configured endpoint got, and its retry state.
			`CREATE TABLE webhook_cursors (
				endpoint TEXT PRIMARY KEY,
				last_event_id BIGINT NOT NULL DEFAULT 0,
				attempts BIGINT NOT NULL DEFAULT 0,
				next_attempt_at {{ts}},
				last_error TEXT NOT NULL DEFAULT '',
				updated_at {{ts}}
			)`,
			// Which process delivers: one holder at a time, so two web
			// processes never post the same event twice.
			`CREATE TABLE webhook_leases (
				name TEXT PRIMARY KEY,
				holder TEXT NOT NULL,
				expires_at {{ts}}
			)`,
		},
	},
	{
		version: 20,
		name:    "scan spool",
		sql: []string{
			// Captures a crawl worker without the reference index leaves
			// for a scan worker to match (worker --queues crawl): in the
			// database, so workers on other hosts share it. Meta and body
			// are sealed with a key derived from the fingerprint key.
			`CREATE TABLE scan_spool (
				id {{id}},
				run_id BIGINT NOT NULL,
				source_id BIGINT NOT NULL,
				capture_id BIGINT NOT NULL,
				kind TEXT NOT NULL,
				url TEXT NOT NULL,
				meta {{blob}},
				body {{blob}},
				created_at {{ts}}
			)`,
			`CREATE UNIQUE INDEX idx_scan_spool_capture_id ON scan_spool (capture_id)`,
			`CREATE INDEX idx_scan_spool_source_run ON scan_spool (source_id, run_id)`,
		},
	},
	{
		version: 21,
		name:    "retention and legal hold",
		sql: []string{
			// A legal hold keeps the evidence of a case, a source or one
			// crawl run from retention's deletion until it is lifted. Holds
			// are never deleted: a lifted one keeps who lifted it and why.
			`CREATE TABLE legal_holds (
				id {{id}},
				scope TEXT NOT NULL,
				object_id BIGINT NOT NULL,
				reason TEXT NOT NULL,
				set_by TEXT NOT NULL,
				set_at {{ts}},
				lifted_by TEXT NOT NULL DEFAULT '',
				lifted_at {{ts}},
				lift_reason TEXT NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX idx_legal_holds_object ON legal_holds (scope, object_id)`,
			// A run's scraped content (its WARC files) removed by the
			// retention policy, marked before the files go (state removing)
			// and finished after (removed), so an interrupted gc finishes
			// on its next pass. The capture rows, digests, hits and the
			// run's seal stay; sums lists the removed files (sha256sum).
			`CREATE TABLE evidence_removals (
				run_id BIGINT PRIMARY KEY,
				state TEXT NOT NULL,
				policy TEXT NOT NULL,
				reason TEXT NOT NULL DEFAULT '',
				marked_at {{ts}},
				removed_at {{ts}},
				files BIGINT NOT NULL DEFAULT 0,
				bytes BIGINT NOT NULL DEFAULT 0,
				sums TEXT NOT NULL DEFAULT ''
			)`,
			// Which case a re-check's capture belongs to, per run.
			`CREATE INDEX idx_removal_checks_capture ON removal_checks (capture_id)`,
		},
	},
}

// ddl fills the dialect-specific placeholders of a statement.
func ddl(dialect, stmt string) string {
	var r *strings.Replacer
	if dialect == DialectPostgres {
		r = strings.NewReplacer("{{id}}", "BIGSERIAL PRIMARY KEY", "{{ts}}", "TIMESTAMPTZ",
			"{{bool}}", "BOOLEAN", "{{true}}", "TRUE", "{{false}}", "FALSE", "{{blob}}", "BYTEA")
	} else {
		r = strings.NewReplacer("{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{ts}}", "DATETIME",
			"{{bool}}", "BOOLEAN", "{{true}}", "1", "{{false}}", "0", "{{blob}}", "BLOB")
	}
	return r.Replace(stmt)
}

// SchemaVersion is the version the code expects.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate applies pending migrations, each in its own transaction, and refuses
// to run against a database newer than this binary.
func (s *Store) migrate(ctx context.Context) error {
	return s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			// Several workers may start at once; one migrates, the others wait.
			// The lock must come before CREATE TABLE IF NOT EXISTS too: two
			// concurrent ones on PostgreSQL can both pass the check and one
			// fails on pg_type's unique index.
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(7106517)`).Error; err != nil {
				return fmt.Errorf("migrate: lock: %w", err)
			}
		}
		if err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, name TEXT, applied_at ` + ddl(s.dialect, "{{ts}}") + `)`).Error; err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		var current int
		if err := tx.Raw(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current).Error; err != nil {
			return fmt.Errorf("migrate: read version: %w", err)
		}
		if current > SchemaVersion() {
			return fmt.Errorf("migrate: database schema is version %d but this leakwatch knows only up to %d; upgrade leakwatch", current, SchemaVersion())
		}
		for _, m := range migrations {
			if m.version <= current {
				continue
			}
			stmts := append(append([]string{}, m.sql...), m.dialectSQL[s.dialect]...)
			for _, stmt := range stmts {
				if err := tx.Exec(ddl(s.dialect, stmt)).Error; err != nil {
					return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
				}
			}
			rec := SchemaMigration{Version: m.version, Name: m.name, AppliedAt: time.Now().UTC()}
			if err := tx.Create(&rec).Error; err != nil {
				return fmt.Errorf("migrate: record version %d: %w", m.version, err)
			}
		}
		return nil
	})
}
