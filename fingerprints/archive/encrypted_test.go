package archive

import (
	"errors"
	"strings"
	"testing"
)

func Test7z(t *testing.T) {
	inner := buildZip(t, file{"note.txt", note})
	files := []file{{"docs/a.pdf", pdf}, {"docs/b.csv", csv}, {"inner.zip", inner}}
	want := func(name string) map[string][]byte {
		return map[string][]byte{
			name + "!/docs/a.pdf":          pdf,
			name + "!/docs/b.csv":          csv,
			name + "!/inner.zip!/note.txt": note,
		}
	}
	cases := []struct {
		name      string
		args      []string
		passwords []string
		encrypted bool // expect ErrEncrypted
	}{
		{"plain.7z", nil, nil, false},
		{"solid-lzma.7z", []string{"-m0=lzma", "-ms=on"}, nil, false},
		{"store.7z", []string{"-mx0"}, nil, false},
		{"bzip2.7z", []string{"-m0=bzip2"}, nil, false},
		{"hdr-enc.7z", []string{"-psecret", "-mhe=on"}, []string{"wrong", "secret"}, false},
		{"hdr-enc-none.7z", []string{"-psecret", "-mhe=on"}, nil, true},
		{"hdr-enc-wrong.7z", []string{"-psecret", "-mhe=on"}, []string{"wrong", "Secret"}, true},
		{"content-enc.7z", []string{"-psecret"}, []string{"wrong", "secret"}, false},
		{"content-enc-none.7z", []string{"-psecret"}, nil, true},
		// With the copy method a wrong key gives garbage, not an error: the
		// CRC must catch it.
		{"store-enc-wrong.7z", []string{"-psecret", "-mx0"}, []string{"wrong"}, true},
		{"store-enc.7z", []string{"-psecret", "-mx0"}, []string{"wrong", "secret"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := run7z(t, c.name, c.args, files...)
			if !IsArchive(data) {
				t.Fatal("IsArchive = false")
			}
			got, st, err := collect(t, &Walker{Passwords: c.passwords}, c.name, data)
			if err != nil {
				t.Fatal(err)
			}
			if !c.encrypted {
				wantMembers(t, got, want(c.name))
				return
			}
			if st.Members != 0 || st.Errors == 0 {
				t.Errorf("stats %+v: %v", st, keys(got))
			}
			for p, m := range got {
				if !errors.Is(m.Err, ErrEncrypted) {
					t.Errorf("%s: err %v, want ErrEncrypted", p, m.Err)
				}
			}
		})
	}
}

func TestZipEncrypted(t *testing.T) {
	files := []file{{"a.pdf", pdf}, {"b.csv", csv}, {"empty.txt", nil}}
	for _, method := range []string{"ZipCrypto", "AES128", "AES256"} {
		for _, mx := range []string{"-mx0", "-mx5"} {
			data := run7z(t, "enc.zip", []string{"-tzip", "-psecret", "-mem=" + method, mx}, files...)
			t.Run(method+mx, func(t *testing.T) {
				got, _, err := collect(t, &Walker{Passwords: []string{"wrong", "secret"}}, "enc.zip", data)
				if err != nil {
					t.Fatal(err)
				}
				wantMembers(t, got, map[string][]byte{"enc.zip!/a.pdf": pdf, "enc.zip!/b.csv": csv, "enc.zip!/empty.txt": {}})
				for _, pws := range [][]string{nil, {"wrong", "secre", "secret2"}} {
					got, st, err := collect(t, &Walker{Passwords: pws}, "enc.zip", data)
					if err != nil {
						t.Fatal(err)
					}
					for p, m := range got {
						if !errors.Is(m.Err, ErrEncrypted) {
							t.Errorf("passwords %q: %s: %v", pws, p, m.Err)
						}
					}
					if st.Members != 0 {
						t.Errorf("passwords %q: stats %+v", pws, st)
					}
				}
			})
		}
	}
}

func TestRar(t *testing.T) {
	entries := func() []rarEntry {
		return []rarEntry{
			{name: "docs", dir: true},
			{name: "docs/a.pdf", data: pdf},
			{name: "docs/link", symlink: "/etc/passwd"},
			{name: "docs/b.csv", data: csv},
			{name: "../../escape.txt", data: note},
			{name: "inner.zip", data: buildZip(t, file{"note.txt", note})},
		}
	}
	plainWant := map[string][]byte{
		"x.rar!/docs/a.pdf":          pdf,
		"x.rar!/docs/b.csv":          csv,
		"x.rar!/escape.txt":          note,
		"x.rar!/inner.zip!/note.txt": note,
	}
	t.Run("plain", func(t *testing.T) {
		data := buildRar5(entries(), "")
		if !IsArchive(data) {
			t.Fatal("IsArchive = false")
		}
		got, st, err := collect(t, &Walker{}, "x.rar", data)
		if err != nil {
			t.Fatal(err)
		}
		wantMembers(t, got, plainWant)
		if st.Skipped != 2 {
			t.Errorf("Skipped = %d, want 2 (dir, symlink)", st.Skipped)
		}
	})
	t.Run("content-encrypted", func(t *testing.T) {
		es := entries()
		es[3].password = "secret" // docs/b.csv
		es[5].password = "secret" // inner.zip
		data := buildRar5(es, "")
		got, _, err := collect(t, &Walker{Passwords: []string{"wrong", "secret"}}, "x.rar", data)
		if err != nil {
			t.Fatal(err)
		}
		wantMembers(t, got, plainWant)
		got, st, err := collect(t, &Walker{Passwords: []string{"wrong"}}, "x.rar", data)
		if err != nil {
			t.Fatal(err)
		}
		if m := got["x.rar!/docs/b.csv"]; !errors.Is(m.Err, ErrEncrypted) {
			t.Errorf("b.csv: %v", m.Err)
		}
		if m := got["x.rar!/docs/a.pdf"]; m.Err != nil {
			t.Errorf("a.pdf (not encrypted): %v", m.Err)
		}
		if st.Members != 2 || st.Errors != 2 {
			t.Errorf("stats %+v: %v", st, keys(got))
		}
	})
	t.Run("header-encrypted", func(t *testing.T) {
		data := buildRar5(entries(), "secret")
		got, _, err := collect(t, &Walker{Passwords: []string{"wrong", "secret"}}, "x.rar", data)
		if err != nil {
			t.Fatal(err)
		}
		wantMembers(t, got, plainWant)
		for _, pws := range [][]string{nil, {"wrong"}} {
			got, _, err = collect(t, &Walker{Passwords: pws}, "x.rar", data)
			if err != nil {
				t.Fatal(err)
			}
			if m := got["x.rar"]; len(got) != 1 || !errors.Is(m.Err, ErrEncrypted) {
				t.Errorf("passwords %q: %v", pws, keys(got))
			}
		}
	})
}

func TestEncryptedMessage(t *testing.T) {
	if !strings.Contains(ErrEncrypted.Error(), "no password worked") {
		t.Fatal(ErrEncrypted)
	}
}
