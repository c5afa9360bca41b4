package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/extract"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/ocr"
	"github.com/leakwatch/leakwatch/internal/references"
)

// fingerprintKey loads the secret fingerprint key (environment or key file).
func (e *env) fingerprintKey() (*fingerprints.Key, error) {
	if e.cfg == nil {
		if _, err := e.loadConfig(false); err != nil {
			return nil, err
		}
	}
	return fingerprints.LoadKey(os.Getenv, e.cfg.Fingerprints.KeyFile)
}

func (e *env) matchOptions() match.Options {
	th := e.cfg.Fingerprints.Thresholds
	opts := match.Options{
		Passwords: e.cfg.Fingerprints.Passwords,
		PDFToText: e.pdftotext(),
		OCR:       e.ocr(),
		Thresholds: match.Thresholds{
			WinnowMinRun:    th.WinnowMinRun,
			WinnowMinUnique: th.WinnowMinUnique,
			BoilerplateRefs: th.BoilerplateRefs,
			TLSHAuto:        th.TLSHAuto,
			TLSHReview:      th.TLSHReview,
			PDQMax:          th.PDQMax,
			PDQMinQuality:   th.PDQMinQuality,
			EDMMinFields:    th.EDMMinFields,
		},
	}
	opts.Thresholds.WinnowMaxHolders = th.WinnowMaxHolders
	return opts
}

// pdftotext resolves fingerprints.pdftotext to the program the extractor runs
// ("" for none), looking on $PATH for auto. Load has checked an explicit
// path, so an error means it changed since: PDFs are then read without it,
// and the log says so rather than every PDF failing to start it.
func (e *env) pdftotext() string {
	p, err := extract.ResolvePDFToText(e.cfg.Fingerprints.PDFToText)
	if err != nil {
		e.log.Warn("fingerprints.pdftotext unusable; reading PDFs without it", "err", err)
		return ""
	}
	return p
}

// ocr resolves fingerprints.ocr to an engine, or nil when OCR is off or
// tesseract is not installed: then scanned pages and photographed documents
// match by image only, which is said once rather than per image.
func (e *env) ocr() extract.OCR {
	setting := e.cfg.Fingerprints.OCR
	p, err := ocr.Resolve(setting)
	if err == nil && p == "" && setting == config.OCRAuto && !e.ocrWarned {
		e.ocrWarned = true
		e.log.Warn("tesseract not found on $PATH: scanned pages and photographed documents are matched by image only (install tesseract-ocr tesseract-ocr-eng, or set fingerprints.ocr: off)")
	}
	if err != nil {
		e.log.Warn("fingerprints.ocr unusable; images are matched by image only", "err", err)
		return nil
	}
	if p == "" {
		return nil
	}
	return &ocr.Engine{Path: p, PageTimeout: e.cfg.Fingerprints.OCRPageTimeout}
}

// scanner returns a scanner over the stored reference index.
func (e *env) scanner(ctx context.Context) (*references.Scanner, error) {
	key, err := e.fingerprintKey()
	if err != nil {
		return nil, err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return nil, err
	}
	if e.obs != nil {
		e.obs.index.Loading()
	}
	start := time.Now()
	sc, err := references.NewScanner(ctx, store, key, e.matchOptions(), e.cfg.Fingerprints.MaxAnalyzeBytes)
	if err != nil {
		if e.obs != nil {
			e.obs.index.Failed(err)
		}
		return nil, err
	}
	if e.obs != nil {
		e.obs.index.Loaded(sc)
	}
	st, took := sc.IndexStats(), time.Since(start)
	// At breach scale the load takes tens of seconds: say so when it does.
	level := slog.LevelDebug
	if took > 2*time.Second {
		level = slog.LevelInfo
	}
	e.log.Log(ctx, level, "reference index loaded", "references", st.References, "text_fingerprints", st.Prints,
		"image_fingerprints", st.Images, "field_fingerprints", st.Fields, "took", took.Round(time.Millisecond))
	return sc, nil
}
