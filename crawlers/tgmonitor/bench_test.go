package tgmonitor_test

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/internal/testkit/tgsim"
	"github.com/leakwatch/leakwatch/storage"
)

// BenchmarkBackfill reads a 10,000-message channel carrying 500 files
// (200 KB each on average, 100 MB in all, incompressible) from the
// simulated Telegram on loopback, through the whole pipeline, with the
// account's request rate uncapped: MTProto,
// downloads, matching against a small reference index, WARC evidence and the
// database. It reports messages/s, MB/s and the process's peak RSS (the
// simulated server's included: it holds the files).
//
//	go test -run XXX -bench Backfill -benchtime 1x ./crawlers/tgmonitor/
func BenchmarkBackfill(b *testing.B) {
	const (
		messages = 10_000
		files    = 500
		meanSize = 200 << 10
	)
	for range b.N {
		b.StopTimer()
		w := newWorld(b)
		ch := w.sim.AddChannel("big_dump", "Big dump")
		r := rand.New(rand.NewPCG(1, 2))
		var total int64
		for i := range messages {
			p := tgsim.Post{Text: "post " + strconv.Itoa(i) + ": " + strings.Repeat("lorem ipsum ", 1+r.IntN(20))}
			if i%(messages/files) == 0 {
				data := make([]byte, meanSize/2+r.IntN(meanSize))
				for j := range data {
					data[j] = byte(r.Uint32())
				}
				total += int64(len(data))
				p.File = &tgsim.File{Name: "f" + strconv.Itoa(i) + ".bin", MIME: "application/octet-stream", Data: data}
			}
			w.sim.Post(ch, p)
		}
		src := storage.Source{Name: "big", Kind: storage.SourceTelegram, URL: "https://t.me/big_dump", Enabled: true,
			Options: storage.SourceOptions{Telegram: &storage.TelegramOptions{Account: account, BackfillCount: messages}}}
		if err := w.store.CreateSource(context.Background(), &src); err != nil {
			b.Fatal(err)
		}
		w.src = src
		// The pipeline's own speed: the account's request rate (2/s by
		// default, Telegram's limits) would otherwise be all it measured.
		o := w.monOpts
		o.Rate = 1e6
		var err error
		if w.mon, err = tgmonitor.New(o); err != nil {
			b.Fatal(err)
		}
		w.login(b)
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset the peak RSS
		b.StartTimer()
		t0 := time.Now()
		_, st, err := w.pass(b, nil)
		if err != nil {
			b.Fatal(err)
		}
		// The first pass notes the channel's top; the history is read now.
		_, st2, err := w.pass(b, nil)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		msgs, fs, bytesRead := st.Messages+st2.Messages, st.Files+st2.Files, st.Bytes+st2.Bytes
		if msgs != messages || fs != files || bytesRead != total {
			b.Fatalf("read %d messages, %d files, %d bytes; want %d, %d, %d", msgs, fs, bytesRead, messages, files, total)
		}
		b.ReportMetric(float64(msgs)/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(bytesRead)/1e6/el.Seconds(), "MB/s")
		b.ReportMetric(float64(peakRSS())/1024, "peak-RSS-MB")
	}
}

// peakRSS is the process's peak resident set in KB (VmHWM).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
