package workflows

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/capture"
)

// TestEveryActivityRegistered: the per-queue registration lists name each
// activity by hand (workers register them with options), so this checks
// them against the activity types themselves. Every exported method that
// takes a context first and returns an error last is registered on exactly
// one queue, under its own method name — which is what workflows call it
// by through method values.
func TestEveryActivityRegistered(t *testing.T) {
	acts := Activities{
		Crawl:    &CrawlActivities{Pipeline: &capture.Pipeline{}},
		Dispatch: &Dispatcher{},
		Cases:    &CaseActivities{Checker: nilChecker{}},
		Telegram: &TelegramActivities{},
		Scan:     &ScanActivities{},
	}
	where := map[string]string{}
	add := func(queue string, rs []registration) {
		for _, r := range rs {
			if q, dup := where[r.name]; dup {
				t.Errorf("activity %s registered on %s and %s", r.name, q, queue)
			}
			where[r.name] = queue
			fn := runtime.FuncForPC(reflect.ValueOf(r.fn).Pointer()).Name()
			if m := strings.TrimSuffix(fn[strings.LastIndex(fn, ".")+1:], "-fm"); m != r.name {
				t.Errorf("activity registered as %s is method %s", r.name, m)
			}
		}
	}
	add("base", acts.baseActivities())
	for _, q := range config.WorkerQueues {
		add(q, acts.queueActivities(q))
	}
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for _, v := range []any{acts.Crawl, acts.Dispatch, acts.Cases, acts.Telegram, acts.Scan} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			ft := m.Type // receiver first
			if ft.NumIn() < 2 || ft.In(1) != ctxType || ft.NumOut() == 0 || ft.Out(ft.NumOut()-1) != errType {
				continue
			}
			if _, ok := where[m.Name]; !ok {
				t.Errorf("activity %s.%s is registered on no queue: workflows calling it would wait for ever", typ.Elem().Name(), m.Name)
			}
		}
	}
}

// nilChecker makes CheckRemoval registrable; it is never called.
type nilChecker struct{ RemovalChecker }
