package storage

// The reference index's durable form: the references table, the keyed
// fingerprint tables (ref_images, ref_fields, ref_patients) and the
// manifest of print segments (refsegments.go), written by `refs add` and
// read by internal/references.LoadIndex into the fingerprints/memindex
// that every scanning process matches against. The winnowing prints
// themselves — nearly all of the index — are in segment files beside the
// database, memory-mapped, not in a table (ref_prints is read only to move
// an older index's prints out).

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// Setting names.
const (
	SettingFingerprintKeyID  = "fingerprint_key_id"
	SettingFingerprintScheme = "fingerprint_scheme"
)

// Setting returns a stored setting, or "" when unset.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v []string
	if err := s.ctx(ctx).Raw(`SELECT value FROM settings WHERE name = ?`, name).Scan(&v).Error; err != nil {
		return "", fmt.Errorf("read setting %s: %w", name, err)
	}
	if len(v) == 0 {
		return "", nil
	}
	return v[0], nil
}

// ClaimSetting stores value under name unless a value is already there, and
// returns the value in force. Concurrent first claims agree on one winner.
func (s *Store) ClaimSetting(ctx context.Context, name, value string) (string, error) {
	err := s.ctx(ctx).Exec(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value).Error
	if err != nil {
		return "", fmt.Errorf("claim setting %s: %w", name, err)
	}
	return s.Setting(ctx, name)
}

// RefFingerprints are a reference's rows in the index tables.
type RefFingerprints struct {
	Prints   []int64 // keyed winnowing hashes
	Images   []RefImage
	Fields   []RefField
	Patients []string // keyed patient identifiers
}

// ReferenceByPathMAC finds the reference imported from a path (by its keyed MAC).
func (s *Store) ReferenceByPathMAC(ctx context.Context, mac string) (Reference, bool, error) {
	var r Reference
	res := s.ctx(ctx).Where("path_mac = ? AND parent_id = 0", mac).Limit(1).Find(&r)
	if res.Error != nil {
		return Reference{}, false, fmt.Errorf("reference by path: %w", res.Error)
	}
	return r, res.RowsAffected == 1, nil
}

// SaveReferences stores references with their fingerprints in one
// transaction. A reference whose PathMAC is already stored replaces the old
// one and its members (the file changed); the caller skips unchanged files.
// Each reference's ParentIndex (if >= 0) names an earlier entry of the batch
// it is a member of.
func (s *Store) SaveReferences(ctx context.Context, batch []NewReference) error {
	return s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		ids := make([]uint64, len(batch))
		for i := range batch {
			nr := &batch[i]
			if nr.Ref.PathMAC != "" && nr.ParentIndex < 0 {
				if err := deleteRefTree(tx, nr.Ref.PathMAC); err != nil {
					return err
				}
			}
			if nr.ParentIndex >= 0 {
				nr.Ref.ParentID = ids[nr.ParentIndex]
			}
			if nr.Ref.OpaqueID == "" {
				id, err := newOpaqueID()
				if err != nil {
					return err
				}
				nr.Ref.OpaqueID = id
			}
			nr.Ref.Prints = int64(len(nr.FP.Prints))
			if nr.Ref.Prints > 0 && nr.Ref.Segment == 0 {
				// Prints live in segments: the caller writes them there.
				return fmt.Errorf("save reference: %d prints and no segment to hold them", nr.Ref.Prints)
			}
			if err := tx.Create(&nr.Ref).Error; err != nil {
				return fmt.Errorf("save reference: %w", err)
			}
			ids[i] = nr.Ref.ID
			if err := insertFingerprints(tx, nr.Ref.ID, nr.FP); err != nil {
				return err
			}
		}
		return bumpIndexGeneration(tx)
	})
}

// NewReference is one reference to save with SaveReferences.
type NewReference struct {
	Ref         Reference
	FP          RefFingerprints
	ParentIndex int // index in the batch of the archive it came from, or -1
}

func deleteRefTree(tx *gorm.DB, pathMAC string) error {
	var ids []uint64
	if err := tx.Raw(`SELECT id FROM "references" WHERE path_mac = ? AND parent_id = 0`, pathMAC).Scan(&ids).Error; err != nil {
		return fmt.Errorf("find old reference: %w", err)
	}
	for len(ids) > 0 {
		for _, t := range []string{"ref_prints", "ref_images", "ref_fields", "ref_patients"} {
			if err := tx.Exec(`DELETE FROM `+t+` WHERE ref_id IN ?`, ids).Error; err != nil {
				return fmt.Errorf("delete old fingerprints: %w", err)
			}
		}
		var children []uint64
		if err := tx.Raw(`SELECT id FROM "references" WHERE parent_id IN ?`, ids).Scan(&children).Error; err != nil {
			return err
		}
		// Hits keep pointing at the old reference id; the reference row stays
		// as history only when something refers to it, retired: its prints
		// in an old segment must not match any more.
		if err := tx.Exec(`DELETE FROM "references" WHERE id IN ? AND id NOT IN (SELECT reference_id FROM hits)`, ids).Error; err != nil {
			return fmt.Errorf("delete old reference: %w", err)
		}
		if err := tx.Exec(`UPDATE "references" SET path_mac = '', retired = ? WHERE id IN ?`, true, ids).Error; err != nil {
			return err
		}
		ids = children
	}
	return nil
}

// insertFingerprints writes index rows with multi-row INSERTs, which is what
// makes a breach-scale import take minutes rather than hours.
func insertFingerprints(tx *gorm.DB, refID uint64, fp RefFingerprints) error {
	if err := insertRows(tx, "ref_images (ref_id, image, variant, hash, quality)", "", len(fp.Images), func(i int) []any {
		im := fp.Images[i]
		return []any{refID, im.Image, im.Variant, im.Hash, im.Quality}
	}); err != nil {
		return fmt.Errorf("save image fingerprints: %w", err)
	}
	if err := insertRows(tx, "ref_fields (field, hash, ref_id, row_no)", "", len(fp.Fields), func(i int) []any {
		f := fp.Fields[i]
		return []any{f.Field, f.Hash, refID, f.RowNo}
	}); err != nil {
		return fmt.Errorf("save field fingerprints: %w", err)
	}
	if err := insertRows(tx, "ref_patients (ref_id, patient)", " ON CONFLICT DO NOTHING", len(fp.Patients), func(i int) []any {
		return []any{refID, fp.Patients[i]}
	}); err != nil {
		return fmt.Errorf("save patients: %w", err)
	}
	return nil
}

// insertRows inserts n rows into table ("name (col, ...)") with multi-row
// INSERTs of at most 900 parameters (under every driver's limit). The
// index tables take millions of rows; this is several times faster than
// gorm's reflective batch insert.
func insertRows(tx *gorm.DB, table, suffix string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	cols := len(row(0))
	per := max(1, 900/cols)
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		var sb strings.Builder
		args := make([]any, 0, cols*(end-start))
		sb.WriteString("INSERT INTO " + table + " VALUES ")
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteByte(',')
			}
			sb.WriteString(ph)
			args = append(args, row(i)...)
		}
		sb.WriteString(suffix)
		if err := tx.Exec(sb.String(), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// ReferencesByDigest returns references whose column (sha256, md5, sha1 or
// text_digest) equals value.
func (s *Store) ReferencesByDigest(ctx context.Context, column, value string) ([]Reference, error) {
	switch column {
	case "sha256", "md5", "sha1", "text_digest":
	default:
		return nil, fmt.Errorf("references by digest: unknown column %q", column)
	}
	var out []Reference
	if err := s.ctx(ctx).Where(column+" = ?", value).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("references by %s: %w", column, err)
	}
	return out, nil
}

// IndexStats counts the reference index.
type IndexStats struct {
	References, Prints, Images, Fields int64
	Segments                           int   // ready print segments
	SegmentBytes                       int64 // their files' size
}

// IndexStats returns the size of the reference index.
func (s *Store) IndexStats(ctx context.Context) (IndexStats, error) {
	var st IndexStats
	if err := s.ctx(ctx).Raw(`SELECT COUNT(*), COALESCE(SUM(postings), 0), COALESCE(SUM(bytes), 0) FROM ref_segments WHERE state = ?`, SegmentReady).
		Row().Scan(&st.Segments, &st.Prints, &st.SegmentBytes); err != nil {
		return st, fmt.Errorf("index stats: %w", err)
	}
	var legacy int64
	for _, q := range []struct {
		table string
		dst   *int64
	}{{`"references"`, &st.References}, {"ref_prints", &legacy}, {"ref_images", &st.Images}, {"ref_fields", &st.Fields}} {
		if err := s.ctx(ctx).Raw(`SELECT COUNT(*) FROM ` + q.table).Scan(q.dst).Error; err != nil {
			return st, fmt.Errorf("index stats: %w", err)
		}
	}
	st.Prints += legacy
	return st, nil
}

// CountReferences returns how many reference documents are indexed.
func (s *Store) CountReferences(ctx context.Context) (int64, error) {
	var n int64
	if err := s.ctx(ctx).Raw(`SELECT COUNT(*) FROM "references"`).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("count references: %w", err)
	}
	return n, nil
}

// SettingIndexGeneration counts changes to the reference index, so
// processes holding it in memory know when to reload.
const SettingIndexGeneration = "index_generation"

// bumpIndexGeneration records a change to the reference index (in the
// transaction that makes it).
func bumpIndexGeneration(tx *gorm.DB) error {
	err := tx.Exec(`INSERT INTO settings (name, value) VALUES (?, '1')
		ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)`, SettingIndexGeneration).Error
	if err != nil {
		return fmt.Errorf("bump index generation: %w", err)
	}
	return nil
}

// IndexGeneration returns the reference index's change counter (0 before
// the first change).
func (s *Store) IndexGeneration(ctx context.Context) (int64, error) {
	v, err := s.Setting(ctx, SettingIndexGeneration)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("index generation %q: %w", v, err)
	}
	return n, nil
}

// IndexVisitor receives the reference index's rows from WalkIndex. Nil
// functions skip their table.
type IndexVisitor struct {
	Reference func(Reference) // ID, OpaqueID, Name, digests, TLSH, Prints and Segment only; retired references are left out
	Field     func(field, hash string, ref uint64, row int64)
	Image     func(RefImage)
	Patient   func(ref uint64, patient string)
}

// WalkIndex streams the whole reference index, references first, for an
// in-memory snapshot. It reads table by table outside a transaction (an
// IMMEDIATE SQLite transaction would hold off imports for its duration),
// so rows of references added meanwhile may appear without their
// reference; IndexGeneration read before the walk tells the caller to
// load again.
func (s *Store) WalkIndex(ctx context.Context, v IndexVisitor) error {
	walk := func(name, query string, dest func() []any, row func()) error {
		rows, err := s.ctx(ctx).Raw(query).Rows()
		if err != nil {
			return fmt.Errorf("walk %s: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(dest()...); err != nil {
				return fmt.Errorf("walk %s: %w", name, err)
			}
			row()
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("walk %s: %w", name, err)
		}
		return nil
	}
	if v.Reference != nil {
		var r Reference
		err := walk("references", `SELECT id, opaque_id, COALESCE(name, ''), COALESCE(sha256, ''), COALESCE(md5, ''), COALESCE(sha1, ''),
			COALESCE(text_digest, ''), COALESCE(tlsh, ''), COALESCE(prints, 0), COALESCE(size, 0), COALESCE(crc32, 0), segment
			FROM "references" WHERE NOT retired ORDER BY id`,
			func() []any {
				r = Reference{}
				return []any{&r.ID, &r.OpaqueID, &r.Name, &r.SHA256, &r.MD5, &r.SHA1, &r.TextDigest, &r.TLSH, &r.Prints, &r.Size, &r.CRC32, &r.Segment}
			}, func() { v.Reference(r) })
		if err != nil {
			return err
		}
	}
	if v.Field != nil {
		var f RefField
		err := walk("fields", `SELECT field, hash, ref_id, row_no FROM ref_fields`,
			func() []any { return []any{&f.Field, &f.Hash, &f.RefID, &f.RowNo} }, func() { v.Field(f.Field, f.Hash, f.RefID, f.RowNo) })
		if err != nil {
			return err
		}
	}
	if v.Image != nil {
		var im RefImage
		err := walk("images", `SELECT ref_id, image, variant, hash, quality FROM ref_images`,
			func() []any { return []any{&im.RefID, &im.Image, &im.Variant, &im.Hash, &im.Quality} }, func() { v.Image(im) })
		if err != nil {
			return err
		}
	}
	if v.Patient != nil {
		var ref uint64
		var p string
		if err := walk("patients", `SELECT ref_id, patient FROM ref_patients`, func() []any { return []any{&ref, &p} }, func() { v.Patient(ref, p) }); err != nil {
			return err
		}
	}
	return nil
}
