package synth

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/image/draw"
)

// archiveMember is one file inside a leak archive.
type archiveMember struct {
	name string
	data []byte
}

// archiveMembers returns the reference (under its original path, its base
// name, or a new name, by variant) followed by 1–2 unrelated files, and a
// fixed modification time so archives are reproducible.
func (m *mixer) archiveMembers(rng *rand.Rand, i int, src Doc) ([]archiveMember, string, time.Time, error) {
	var name, variant string
	switch i % 3 {
	case 0:
		name, variant = src.RelPath, "original-path"
	case 1:
		name, variant = path.Base(src.RelPath), "basename"
	default:
		name, variant = postedName(rng, path.Ext(src.RelPath)), "renamed-member"
	}
	members := []archiveMember{{name, m.files[src.RelPath]}}
	extra, err := unrelatedFiles(rng, 1+rng.IntN(2))
	if err != nil {
		return nil, "", time.Time{}, err
	}
	members = append(members, extra...)
	// Shuffle so the reference is not always the first member.
	rng.Shuffle(len(members), func(a, b int) { members[a], members[b] = members[b], members[a] })
	return members, variant, archiveTime(rng), nil
}

func archiveTime(rng *rand.Rand) time.Time {
	return time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC).
		Add(time.Duration(rng.IntN(365*24*3600)) * time.Second)
}

// unrelatedFiles returns n files that share nothing with any reference: a
// seller's read-me, forum-style chatter, or an unrelated picture.
func unrelatedFiles(rng *rand.Rand, n int) ([]archiveMember, error) {
	out := make([]archiveMember, 0, n)
	kinds := rng.Perm(3)
	for _, k := range kinds[:n] {
		switch k {
		case 0:
			out = append(out, archiveMember{pick(rng, []string{"README.txt", "read_me.txt", "info.txt"}), []byte(sellerReadme(rng))})
		case 1:
			out = append(out, archiveMember{pick(rng, []string{"notes.txt", "chat.txt", "log.txt"}), []byte(chatterLines(rng, 3+rng.IntN(5)))})
		default:
			img := unrelatedImage(rng)
			data, err := encodeImage(img, ".png", 0)
			if err != nil {
				return nil, err
			}
			out = append(out, archiveMember{pick(rng, []string{"banner.png", "logo.png", "preview.png"}), data})
		}
	}
	return out, nil
}

func zipBytes(members []archiveMember, mod time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, mb := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: mb.name, Method: zip.Deflate, Modified: mod})
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", mb.name, err)
		}
		if _, err := w.Write(mb.data); err != nil {
			return nil, fmt.Errorf("zip %s: %w", mb.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), nil
}

func tarGzBytes(members []archiveMember, mod time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	gz.ModTime = mod
	tw := tar.NewWriter(gz)
	for _, mb := range members {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: mb.name, Mode: 0o644, Size: int64(len(mb.data)),
			ModTime: mod, Uname: "user", Gname: "user", Format: tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", mb.name, err)
		}
		if _, err := tw.Write(mb.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", mb.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// sevenZipBytes runs `7z a` in a scratch directory. Fixed modes, times and
// a single thread make the archive byte-for-byte reproducible.
func sevenZipBytes(members []archiveMember, mod time.Time) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "leakmix-7z-")
	if err != nil {
		return nil, fmt.Errorf("7z scratch dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "in")
	var names, dirs []string
	for _, mb := range members {
		p := filepath.Join(src, filepath.FromSlash(mb.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("7z scratch dir: %w", err)
		}
		if err := os.WriteFile(p, mb.data, 0o644); err != nil {
			return nil, fmt.Errorf("7z scratch file: %w", err)
		}
		if err := os.Chmod(p, 0o644); err != nil { // umask-independent
			return nil, fmt.Errorf("7z scratch file: %w", err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			return nil, fmt.Errorf("7z scratch file: %w", err)
		}
		names = append(names, filepath.FromSlash(mb.name))
		if d := path.Dir(mb.name); d != "." {
			dirs = append(dirs, filepath.Join(src, filepath.FromSlash(d)))
		}
	}
	// Directory times change as files land in them, so set them last.
	for _, d := range dirs {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, fmt.Errorf("7z scratch dir: %w", err)
		}
		if err := os.Chtimes(d, mod, mod); err != nil {
			return nil, fmt.Errorf("7z scratch dir: %w", err)
		}
	}
	out := filepath.Join(tmp, "out.7z")
	args := append([]string{"a", "-t7z", "-mx=5", "-mmt=1", "-bso0", "-bsp0", out}, names...)
	cmd := exec.Command(sevenZipCommand, args...)
	cmd.Dir = src
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("7z a: %w: %s", err, strings.TrimSpace(string(msg)))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("7z output: %w", err)
	}
	return data, nil
}

func (m *mixer) zipItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	members, variant, mod, err := m.archiveMembers(rng, i, src)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := zipBytes(members, mod)
	return LeakItem{Name: postedName(rng, ".zip"), Data: data, Variant: variant}, err
}

func (m *mixer) tarGzItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	members, variant, mod, err := m.archiveMembers(rng, i, src)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := tarGzBytes(members, mod)
	return LeakItem{Name: postedName(rng, ".tar.gz"), Data: data, Variant: variant}, err
}

func (m *mixer) sevenZipItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	members, variant, mod, err := m.archiveMembers(rng, i, src)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := sevenZipBytes(members, mod)
	return LeakItem{Name: postedName(rng, ".7z"), Data: data, Variant: variant}, err
}

// Photo transforms.

func (m *mixer) photo(src Doc) (image.Image, error) { return decodeImage(m.files[src.RelPath]) }

func decodeImage(data []byte) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode photo: %w", err)
	}
	return img, nil
}

func (m *mixer) jpeg60Item(rng *rand.Rand, _ int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := encodeImage(img, ".jpg", 60)
	return LeakItem{Name: postedName(rng, ".jpg"), Data: data, Variant: "from-" + strings.TrimPrefix(path.Ext(src.RelPath), ".")}, err
}

func (m *mixer) resize50Item(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	ext, variant := ".png", "png"
	if i%2 == 1 {
		ext, variant = ".jpg", "jpeg-q90"
	}
	data, err := encodeImage(resizeHalf(img), ext, 90)
	return LeakItem{Name: postedName(rng, ext), Data: data, Variant: variant}, err
}

func (m *mixer) crop5Item(rng *rand.Rand, _ int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := encodeImage(cropEdges(img), ".png", 0)
	return LeakItem{Name: postedName(rng, ".png"), Data: data, Variant: "png"}, err
}

// resizeHalf scales img to half its width and height (rounded down).
func resizeHalf(img image.Image) *image.RGBA {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// cropMargin is the share of each dimension cut from each side (2.5 %, so
// 5 % in total), rounded to whole pixels.
func cropMargin(n int) int { return int(math.Round(float64(n) * 0.025)) }

// cropEdges cuts cropMargin pixels off every edge.
func cropEdges(img image.Image) *image.RGBA {
	b := img.Bounds()
	mx, my := cropMargin(b.Dx()), cropMargin(b.Dy())
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx()-2*mx, b.Dy()-2*my))
	draw.Copy(dst, image.Point{}, img, image.Rect(b.Min.X+mx, b.Min.Y+my, b.Max.X-mx, b.Max.Y-my), draw.Src, nil)
	return dst
}

// encodeImage encodes img as PNG (ext ".png") or JPEG with the given
// quality.
func encodeImage(img image.Image, ext string, quality int) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch ext {
	case ".png":
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	case ".jpg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality})
	default:
		return nil, fmt.Errorf("unsupported image extension %q", ext)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ext, err)
	}
	return buf.Bytes(), nil
}

// unrelatedImage draws a small landscape (sky, sun, hills): nothing like
// the clinical photos, for archive filler and distractors.
func unrelatedImage(rng *rand.Rand) *image.RGBA {
	w := 200 + 40*rng.IntN(3)
	h := w * 2 / 3
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	horizon := float64(h) * (0.45 + 0.2*rng.Float64())
	sunX, sunY, sunR := float64(w)*rng.Float64(), horizon*0.4*rng.Float64()+10, 8+12*rng.Float64()
	amp, freq, phase := 6+14*rng.Float64(), 0.01+0.03*rng.Float64(), 2*math.Pi*rng.Float64()
	green := [3]float64{40 + 60*rng.Float64(), 110 + 60*rng.Float64(), 40 + 40*rng.Float64()}
	for y := range h {
		for x := range w {
			var c [3]float64
			ridge := horizon + amp*math.Sin(float64(x)*freq+phase)
			switch {
			case math.Hypot(float64(x)-sunX, float64(y)-sunY) < sunR:
				c = [3]float64{250, 220, 90}
			case float64(y) < ridge:
				t := float64(y) / ridge
				c = [3]float64{90 + 110*t, 150 + 70*t, 230}
			default:
				t := (float64(y) - ridge) / (float64(h) - ridge + 1)
				c = [3]float64{green[0] * (1 - 0.4*t), green[1] * (1 - 0.4*t), green[2] * (1 - 0.4*t)}
			}
			n := float64(rng.IntN(9) - 4)
			img.SetRGBA(x, y, color.RGBA{clamp8(c[0] + n), clamp8(c[1] + n), clamp8(c[2] + n), 0xff})
		}
	}
	return img
}
