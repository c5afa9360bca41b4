package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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
			if err := tx.Create(&nr.Ref).Error; err != nil {
				return fmt.Errorf("save reference: %w", err)
			}
			ids[i] = nr.Ref.ID
			if err := insertFingerprints(tx, nr.Ref.ID, nr.FP); err != nil {
				return err
			}
		}
		return nil
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
		// as history only when something refers to it.
		if err := tx.Exec(`DELETE FROM "references" WHERE id IN ? AND id NOT IN (SELECT reference_id FROM hits)`, ids).Error; err != nil {
			return fmt.Errorf("delete old reference: %w", err)
		}
		if err := tx.Exec(`UPDATE "references" SET path_mac = '' WHERE id IN ?`, ids).Error; err != nil {
			return err
		}
		ids = children
	}
	return nil
}

// insertFingerprints writes index rows with multi-row INSERTs, which is what
// makes a breach-scale import take minutes rather than hours.
func insertFingerprints(tx *gorm.DB, refID uint64, fp RefFingerprints) error {
	const chunk = 400
	for start := 0; start < len(fp.Prints); start += chunk {
		end := min(start+chunk, len(fp.Prints))
		var sb strings.Builder
		args := make([]any, 0, 2*(end-start))
		sb.WriteString(`INSERT INTO ref_prints (hash, ref_id) VALUES `)
		for i, h := range fp.Prints[start:end] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?)")
			args = append(args, h, refID)
		}
		if err := tx.Exec(sb.String(), args...).Error; err != nil {
			return fmt.Errorf("save winnowing fingerprints: %w", err)
		}
	}
	for i := range fp.Images {
		fp.Images[i].RefID = refID
	}
	if len(fp.Images) > 0 {
		if err := tx.Table("ref_images").CreateInBatches(fp.Images, 200).Error; err != nil {
			return fmt.Errorf("save image fingerprints: %w", err)
		}
	}
	for i := range fp.Fields {
		fp.Fields[i].RefID = refID
	}
	if len(fp.Fields) > 0 {
		if err := tx.Table("ref_fields").CreateInBatches(fp.Fields, 200).Error; err != nil {
			return fmt.Errorf("save field fingerprints: %w", err)
		}
	}
	if len(fp.Patients) > 0 {
		rows := make([]map[string]any, len(fp.Patients))
		for i, p := range fp.Patients {
			rows[i] = map[string]any{"ref_id": refID, "patient": p}
		}
		if err := tx.Table("ref_patients").Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 200).Error; err != nil {
			return fmt.Errorf("save patients: %w", err)
		}
	}
	return nil
}

// inChunks runs q over ids in chunks small enough for any driver's parameter limit.
func inChunks[T any](ids []T, q func([]T) error) error {
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		if err := q(ids[start:min(start+chunk, len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

// ReferencesByIDs returns references by id.
func (s *Store) ReferencesByIDs(ctx context.Context, ids []uint64) ([]Reference, error) {
	var out []Reference
	err := inChunks(ids, func(c []uint64) error {
		var part []Reference
		if err := s.ctx(ctx).Where("id IN ?", c).Find(&part).Error; err != nil {
			return err
		}
		out = append(out, part...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("references by id: %w", err)
	}
	return out, nil
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

// PrintPosting says a reference contains a winnowing fingerprint.
type PrintPosting struct {
	Hash  int64
	RefID uint64 `gorm:"column:ref_id"`
}

// PrintPostings returns, for each hash, the references containing it — at
// most maxRefs+1 of them, so a boilerplate fingerprint found in thousands of
// references costs one short index probe, not a thousand-row transfer. A
// hash with more than maxRefs postings comes back with exactly maxRefs+1.
func (s *Store) PrintPostings(ctx context.Context, hashes []int64, maxRefs int) ([]PrintPosting, error) {
	var out []PrintPosting
	err := s.probe(ctx, `SELECT ref_id FROM ref_prints WHERE hash = ? LIMIT ?`, len(hashes), maxRefs, func(i int, rows *sql.Rows) error {
		var p PrintPosting
		p.Hash = hashes[i]
		if err := rows.Scan(&p.RefID); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	}, func(i int) any { return hashes[i] })
	if err != nil {
		return nil, fmt.Errorf("print postings: %w", err)
	}
	return out, nil
}

// FieldPostings returns the reference rows holding each field hash, at most
// maxRows+1 per hash (see PrintPostings).
func (s *Store) FieldPostings(ctx context.Context, hashes []string, maxRows int) ([]RefField, error) {
	var out []RefField
	err := s.probe(ctx, `SELECT field, ref_id, row_no FROM ref_fields WHERE hash = ? LIMIT ?`, len(hashes), maxRows, func(i int, rows *sql.Rows) error {
		f := RefField{Hash: hashes[i]}
		if err := rows.Scan(&f.Field, &f.RefID, &f.RowNo); err != nil {
			return err
		}
		out = append(out, f)
		return nil
	}, func(i int) any { return hashes[i] })
	if err != nil {
		return nil, fmt.Errorf("field postings: %w", err)
	}
	return out, nil
}

// probe runs one prepared point query per key, with LIMIT max+1.
func (s *Store) probe(ctx context.Context, query string, n, max int, scan func(int, *sql.Rows) error, key func(int) any) error {
	if n == 0 {
		return nil
	}
	db, err := s.db.DB()
	if err != nil {
		return err
	}
	if s.dialect == DialectPostgres {
		query = strings.Replace(strings.Replace(query, "?", "$1", 1), "?", "$2", 1)
	}
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range n {
		rows, err := stmt.QueryContext(ctx, key(i), max+1)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(i, rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// AllImages returns every stored image fingerprint (the image index is
// searched by Hamming distance in memory).
func (s *Store) AllImages(ctx context.Context) ([]RefImage, error) {
	var out []RefImage
	if err := s.ctx(ctx).Table("ref_images").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("image fingerprints: %w", err)
	}
	return out, nil
}

// PatientsOf returns the keyed patient identifiers each reference mentions.
func (s *Store) PatientsOf(ctx context.Context, ids []uint64) (map[uint64][]string, error) {
	out := map[uint64][]string{}
	err := inChunks(ids, func(c []uint64) error {
		var rows []struct {
			RefID   uint64 `gorm:"column:ref_id"`
			Patient string
		}
		if err := s.ctx(ctx).Raw(`SELECT ref_id, patient FROM ref_patients WHERE ref_id IN ?`, c).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.RefID] = append(out[r.RefID], r.Patient)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("patients of references: %w", err)
	}
	return out, nil
}

// IndexStats counts the reference index.
type IndexStats struct {
	References, Prints, Images, Fields int64
}

// IndexStats returns the size of the reference index.
func (s *Store) IndexStats(ctx context.Context) (IndexStats, error) {
	var st IndexStats
	for _, q := range []struct {
		table string
		dst   *int64
	}{{`"references"`, &st.References}, {"ref_prints", &st.Prints}, {"ref_images", &st.Images}, {"ref_fields", &st.Fields}} {
		if err := s.ctx(ctx).Raw(`SELECT COUNT(*) FROM ` + q.table).Scan(q.dst).Error; err != nil {
			return st, fmt.Errorf("index stats: %w", err)
		}
	}
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
