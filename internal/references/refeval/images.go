package refeval

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// The image classes: pictures re-posted as they really are (cut on one
// side, cropped round the middle, stamped with a watermark, shown in a
// screenshot at another scale, framed, captioned), each on the generated
// clinical photos and on real photographs the project has never seen, and
// smooth low-texture designs re-compressed hard. A class's distractors are
// the same transforms of pictures that are not in the index.
const (
	ClassOneSided       = "one-sided-crop"
	ClassCentreCrop     = "centre-crop"
	ClassWatermark      = "watermark"
	ClassScreenshot     = "screenshot"
	ClassLowTexture     = "low-texture"
	ClassLowTextureDist = "low-texture-distractor"
	realPrefix          = "real-"
	ClassRealDistractor = "real-distractor"
)

// DefaultPhotoDirs are searched for real photographs when EvalOptions.Photos
// is empty: Debian's desktop background packages (mate-backgrounds,
// ukui-wallpapers, gnome-backgrounds) ship photographs under free licences.
var DefaultPhotoDirs = []string{"/usr/share/backgrounds"}

// realMaxSide is the size real photographs are evaluated at: wallpapers
// are up to 5640 px wide, and the eval is about the transforms, not decode
// time (bench measures camera-size photos).
const realMaxSide = 1280

// imageSet is the pictures an evaluation indexes and holds out.
type imageSet struct {
	photos     []imageRef    // generated clinical photos in the reference set
	real       []imageRef    // real photographs written into the reference set
	realHeld   []image.Image // real photographs not indexed: distractors
	designs    []imageRef    // generated low-texture designs in the reference set
	designHeld []image.Image
	note       string // why there are no real photographs, if there are none
}

type imageRef struct {
	rel string // RelPath in the reference set
	img image.Image
}

// findPhotos lists the real photographs under dirs, sorted, that decode as
// opaque pictures PDQ can rate (quality >= its threshold) at realMaxSide
// and have no flat border of their own.
func findPhotos(dirs []string) ([]image.Image, []string, error) {
	var paths []string
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(p))
			if !d.IsDir() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png") {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("eval: photos: %w", err)
		}
	}
	slices.Sort(paths)
	var imgs []image.Image
	var names []string
	var kept []pdq.Hash // hashes of the photographs kept so far
	for _, p := range paths {
		img, err := decodeFile(p)
		if err != nil || hasAlpha(img) {
			continue // a transparent PNG is a design element, not a photograph
		}
		img = synth.ScaleTo(img, realMaxSide)
		pr, err := pdq.Prepare(img)
		if err != nil {
			continue
		}
		h, q := pr.Hash()
		if q < pdq.MinQuality {
			continue // too flat for a photograph
		}
		if _, framed := pr.Trim(); framed {
			// A logo on a plain field (some wallpapers are) has a frame of
			// its own: framed or screenshotted, where it ends is anyone's
			// guess. Such designs are not photographs.
			continue
		}
		// Packages ship one picture at several resolutions: keep one.
		if slices.ContainsFunc(kept, func(o pdq.Hash) bool { return pdq.Distance(o, h) <= 2*pdq.MatchThreshold }) {
			continue
		}
		kept = append(kept, h)
		imgs = append(imgs, img)
		names = append(names, filepath.Base(p))
	}
	return imgs, names, nil
}

func decodeFile(p string) (image.Image, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(strings.ToLower(p), ".png") {
		return png.Decode(bytes.NewReader(data))
	}
	return jpeg.Decode(bytes.NewReader(data))
}

func hasAlpha(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return !o.Opaque()
	}
	return false
}

// prepareImages adds designs and real photographs to the reference set in
// refsDir, holding some of each out, and collects the generated photos.
func prepareImages(refsDir string, docs []synth.Doc, photoDirs []string, seed int64, perClass int) (*imageSet, error) {
	set := &imageSet{}
	for _, d := range docs {
		if d.Kind == synth.KindPhoto {
			img, err := decodeFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
			if err != nil {
				return nil, fmt.Errorf("eval: photo %s: %w", d.RelPath, err)
			}
			set.photos = append(set.photos, imageRef{d.RelPath, img})
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x696d61676573)) // "images"
	if err := os.MkdirAll(filepath.Join(refsDir, "designs"), 0o755); err != nil {
		return nil, err
	}
	for i := range 2 * perClass {
		// A design whose coarse layout spreads over fewer than
		// fingerprints.BlankContrast luma levels is blank by the trivial
		// rule (refs add skips it, a query says "not matchable"), which
		// other tests hold; this class is about designs with a layout.
		var img *image.RGBA
		for {
			img = synth.Design(rng)
			pr, err := pdq.Prepare(img)
			if err != nil {
				return nil, err
			}
			if _, c := pr.Flat(); c >= fingerprints.BlankContrast {
				break
			}
		}
		if i%2 == 1 {
			set.designHeld = append(set.designHeld, img)
			continue
		}
		rel := fmt.Sprintf("designs/design-%03d.png", i)
		if err := writePNG(filepath.Join(refsDir, filepath.FromSlash(rel)), img); err != nil {
			return nil, err
		}
		set.designs = append(set.designs, imageRef{rel, img})
	}
	if len(photoDirs) == 0 {
		set.note = "no photograph directory given (--photos off)"
		return set, nil
	}
	imgs, names, err := findPhotos(photoDirs)
	if err != nil {
		return nil, err
	}
	if len(imgs) < 4 {
		set.note = fmt.Sprintf("found %d real photographs under %s; install mate-backgrounds (or pass --photos DIR) to include the real-* classes", len(imgs), strings.Join(photoDirs, ", "))
		return set, nil
	}
	// Which half is indexed depends on the seed, so ten seeds see every
	// photograph both as a reference and as a distractor.
	order := rng.Perm(len(imgs))
	if err := os.MkdirAll(filepath.Join(refsDir, "real"), 0o755); err != nil {
		return nil, err
	}
	for k, i := range order {
		if k%2 == 1 {
			set.realHeld = append(set.realHeld, imgs[i])
			continue
		}
		rel := "real/" + strings.TrimSuffix(names[i], filepath.Ext(names[i])) + ".jpg"
		data, err := synth.EncodeImage(imgs[i], ".jpg", 92)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(refsDir, filepath.FromSlash(rel)), data, 0o644); err != nil {
			return nil, err
		}
		// The reference is what was written (JPEG), as a breach holds it.
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		set.real = append(set.real, imageRef{rel, img})
	}
	return set, nil
}

func writePNG(path string, img image.Image) error {
	data, err := synth.EncodeImage(img, ".png", 0)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// imageTransform makes one re-posted copy of img.
type imageTransform func(rng *rand.Rand, img image.Image) (image.Image, string, error)

var photoTransforms = map[string]imageTransform{
	ClassOneSided: func(rng *rand.Rand, img image.Image) (image.Image, string, error) {
		out, v := synth.OneSidedCrop(rng, img)
		return out, v, nil
	},
	ClassCentreCrop: func(rng *rand.Rand, img image.Image) (image.Image, string, error) {
		out, v := synth.CentreCrop(rng, img)
		return out, v, nil
	},
	ClassWatermark:  synth.Watermark,
	ClassScreenshot: synth.Screenshot,
	"border": func(rng *rand.Rand, img image.Image) (image.Image, string, error) {
		return synth.Border(rng, img), "", nil
	},
	"caption-band": func(rng *rand.Rand, img image.Image) (image.Image, string, error) {
		out, err := synth.CaptionBand(rng, img)
		return out, "", err
	},
	"jpeg-q60": func(_ *rand.Rand, img image.Image) (image.Image, string, error) { return img, "", nil },
}

// photoClasses are the classes run on the generated photos (the leak mix
// already has border, caption-band and jpeg-q60 for them) and on real ones.
var (
	generatedPhotoClasses = []string{ClassOneSided, ClassCentreCrop, ClassWatermark, ClassScreenshot}
	realPhotoClasses      = []string{ClassOneSided, ClassCentreCrop, ClassWatermark, ClassScreenshot, "border", "caption-band", "jpeg-q60"}
)

// imageItems builds the image classes' leak items.
func imageItems(set *imageSet, seed int64, perClass int) ([]synth.LeakItem, error) {
	var items []synth.LeakItem
	n := 0
	post := func(class, source string, img image.Image, variant string, rng *rand.Rand) error {
		// Reposts are JPEG, except screenshots, which are PNG.
		ext, q := ".jpg", 80+rng.IntN(11)
		if class == ClassScreenshot || class == realPrefix+ClassScreenshot {
			ext = ".png"
		}
		if strings.HasSuffix(class, "jpeg-q60") {
			q = 60
		}
		if strings.HasPrefix(class, ClassLowTexture) {
			q = 55
		}
		data, err := synth.EncodeImage(img, ext, q)
		if err != nil {
			return err
		}
		n++
		items = append(items, synth.LeakItem{Name: fmt.Sprintf("img-%04d%s", n, ext), Data: data, Transform: synth.Transform(class), Source: source, Variant: variant})
		return nil
	}
	classRng := func(class string) *rand.Rand {
		h := fnv.New64a()
		h.Write([]byte("images/" + class))
		return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	}
	run := func(class string, refs []imageRef, t imageTransform) error {
		rng := classRng(class)
		for i := range perClass {
			src := refs[(i+rng.IntN(len(refs)))%len(refs)]
			out, v, err := t(rng, src.img)
			if err != nil {
				return fmt.Errorf("eval: %s of %s: %w", class, src.rel, err)
			}
			if err := post(class, src.rel, out, v, rng); err != nil {
				return err
			}
		}
		return nil
	}
	if len(set.photos) > 0 {
		for _, c := range generatedPhotoClasses {
			if err := run(c, set.photos, photoTransforms[c]); err != nil {
				return nil, err
			}
		}
	}
	if len(set.real) > 0 {
		for _, c := range realPhotoClasses {
			if err := run(realPrefix+c, set.real, photoTransforms[c]); err != nil {
				return nil, err
			}
		}
		// Distractors: the held-out photographs, each transformed by one of
		// the classes in turn.
		rng := classRng(ClassRealDistractor)
		for i := range perClass {
			c := realPhotoClasses[i%len(realPhotoClasses)]
			out, v, err := photoTransforms[c](rng, set.realHeld[i%len(set.realHeld)])
			if err != nil {
				return nil, err
			}
			if err := post(ClassRealDistractor, "", out, c+" "+v, rng); err != nil {
				return nil, err
			}
		}
	}
	// Low-texture designs re-compressed at JPEG quality 55, half of them
	// also resized to 75 %.
	lowTex := func(rng *rand.Rand, img image.Image) (image.Image, string, error) {
		if rng.IntN(2) == 0 {
			b := img.Bounds()
			return synth.ScaleTo(img, max(b.Dx(), b.Dy())*3/4), "q55-75%", nil
		}
		return img, "q55", nil
	}
	if err := run(ClassLowTexture, set.designs, lowTex); err != nil {
		return nil, err
	}
	rng := classRng(ClassLowTextureDist)
	for i := range perClass {
		out, v, _ := lowTex(rng, set.designHeld[i%len(set.designHeld)])
		if err := post(ClassLowTextureDist, "", out, v, rng); err != nil {
			return nil, err
		}
	}
	return items, nil
}
