package deploy

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/workflows"
)

func load(t *testing.T, env ...string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(env), cli.WithName("leakwatch"))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// TestComposeStack loads docker-compose.yml as docker compose would and
// checks the production stack: PostgreSQL, Temporal on it with its UI, the
// one-shot schema and namespace jobs (creating the search attributes the
// workflows set), a Tor proxy the workers fetch through, web and crawl,
// scan and notify workers that together serve every queue, health checks on everything that serves, secrets from an env
// file, and only real leakwatch settings in the environment.
func TestComposeStack(t *testing.T) {
	p, err := load(t, "POSTGRES_PASSWORD=0123abcd")
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	want := []string{"postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "tor", "leakwatch-crawler", "leakwatch-scanner", "leakwatch-notifier", "leakwatch-web"}
	got := p.ServiceNames()
	slices.Sort(got)
	if w := slices.Sorted(slices.Values(want)); !slices.Equal(got, w) {
		t.Errorf("services %v, want %v", got, w)
	}
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}

	// Everything long-running that serves has a health check others wait on.
	for _, name := range []string{"postgresql", "temporal", "tor", "leakwatch-web", "leakwatch-crawler", "leakwatch-scanner", "leakwatch-notifier"} {
		hc := svc(name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
	}
	// One-shot jobs: retried on failure, waited for by those who need them.
	for _, name := range []string{"temporal-schema", "temporal-namespace"} {
		if r := svc(name).Restart; !strings.HasPrefix(r, "on-failure") {
			t.Errorf("%s restart %q, want on-failure", name, r)
		}
	}
	job := strings.Join(svc("temporal-namespace").Command, " ")
	for _, sa := range []string{workflows.SearchCaseState.GetName(), workflows.SearchCaseTarget.GetName(), workflows.SearchCaseInjunction.GetName()} {
		if !strings.Contains(job, sa) {
			t.Errorf("temporal-namespace does not create search attribute %s", sa)
		}
	}

	settable := map[string]bool{}
	for _, f := range config.Fields() {
		if f.Env != "" {
			settable[f.Env] = true
		}
	}
	for _, name := range []string{"leakwatch-web", "leakwatch-crawler", "leakwatch-scanner", "leakwatch-notifier"} {
		s := svc(name)
		for k := range s.Environment {
			if strings.HasPrefix(k, config.EnvPrefix) && !settable[k] {
				t.Errorf("%s sets %s, which is no leakwatch setting", name, k)
			}
		}
		for _, k := range []string{"LEAKWATCH_DATABASE_DSN", "LEAKWATCH_TEMPORAL_ADDRESS", "LEAKWATCH_TEMPORAL_NAMESPACE", "LEAKWATCH_DATA_DIR", "LEAKWATCH_METRICS_LISTEN"} {
			if v := s.Environment[k]; v == nil || *v == "" {
				t.Errorf("%s: %s not set", name, k)
			}
		}
		if dsn := *s.Environment["LEAKWATCH_DATABASE_DSN"]; !strings.HasPrefix(dsn, "postgres://") || !strings.Contains(dsn, "@postgresql:5432/") || !strings.Contains(dsn, "0123abcd") {
			t.Errorf("%s: database DSN %q does not point at the postgresql service with the .env password", name, dsn)
		}
		if !slices.ContainsFunc(s.EnvFiles, func(f types.EnvFile) bool { return strings.HasSuffix(f.Path, "leakwatch.env") && !bool(f.Required) }) {
			t.Errorf("%s: secrets are not read from an optional leakwatch.env (env_file %+v)", name, s.EnvFiles)
		}
		for dep, cond := range map[string]string{"postgresql": types.ServiceConditionHealthy, "temporal-namespace": types.ServiceConditionCompletedSuccessfully} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != cond {
				t.Errorf("%s: depends_on %s %+v, want %s", name, dep, d, cond)
			}
		}
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Target == "/var/lib/leakwatch" && v.Source == "leakwatch-data"
		}) {
			t.Errorf("%s does not mount the leakwatch-data volume at /var/lib/leakwatch", name)
		}
	}

	// Each worker service serves one kind of heavy work, and together
	// they serve every queue.
	served := map[string]string{}
	for _, name := range []string{"leakwatch-crawler", "leakwatch-scanner", "leakwatch-notifier"} {
		w := svc(name)
		if !slices.Equal(w.Command, []string{"worker", "--config", "/etc/leakwatch/leakwatch.yaml"}) {
			t.Errorf("%s runs %v, want a worker", name, w.Command)
		}
		v := w.Environment["LEAKWATCH_WORKER_QUEUES"]
		if v == nil {
			t.Errorf("%s serves no named queues (LEAKWATCH_WORKER_QUEUES unset: every queue)", name)
			continue
		}
		qs, err := config.ParseQueues(*v)
		if err != nil {
			t.Errorf("%s: LEAKWATCH_WORKER_QUEUES: %v", name, err)
		}
		for _, q := range qs {
			served[q] = name
		}
		if w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas < 1 {
			t.Errorf("%s: replicas %+v, want at least 1", name, w.Deploy)
		}
	}
	for _, q := range config.WorkerQueues {
		if served[q] == "" {
			t.Errorf("no worker service serves the %s queue", q)
		}
	}
	// Whoever fetches (crawls, and scans: removal re-checks re-fetch) goes
	// through Tor, resolving names there; notifiers fetch nothing.
	for _, name := range []string{served[config.QueueCrawl], served[config.QueueScan]} {
		if name == "" {
			continue
		}
		w := svc(name)
		proxy := w.Environment["LEAKWATCH_CRAWLER_PROXY"]
		if proxy == nil {
			t.Errorf("%s has no crawler proxy", name)
			continue
		}
		u, err := url.Parse(*proxy)
		if err != nil || u.Scheme != "socks5h" || u.Hostname() != "tor" || u.Port() != "9050" {
			t.Errorf("%s proxy %q, want socks5h://tor:9050", name, *proxy)
		}
		if d, ok := w.DependsOn["tor"]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s does not wait for a healthy Tor: %+v", name, w.DependsOn)
		}
	}
	if c := svc(served[config.QueueCrawl]); c.Deploy == nil || c.Deploy.Replicas == nil || *c.Deploy.Replicas < 2 {
		t.Errorf("crawlers: replicas %+v, want at least 2 by default", c.Deploy)
	}
	if name := served[config.QueueNotify]; name != "" && name != served[config.QueueCrawl] {
		if _, ok := svc(name).Environment["LEAKWATCH_CRAWLER_PROXY"]; ok {
			t.Errorf("%s only sends and should not carry the proxy", name)
		}
	}
	if _, ok := svc("leakwatch-web").Environment["LEAKWATCH_CRAWLER_PROXY"]; ok {
		t.Error("web crawls nothing and should not carry the proxy")
	}

	// Published ports are on loopback only (the UIs have their own auth or
	// none); a TLS proxy in front is the way out.
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1", s.Name, port.Published, port.HostIP)
			}
		}
	}
	for _, v := range []string{"postgres-data", "leakwatch-data", "tor-data"} {
		if _, ok := p.Volumes[v]; !ok {
			t.Errorf("volume %s not declared", v)
		}
	}
}

// TestComposeNeedsPassword: without POSTGRES_PASSWORD the file refuses to
// load, rather than start a database with an empty password.
func TestComposeNeedsPassword(t *testing.T) {
	_, err := load(t)
	if err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("loaded without POSTGRES_PASSWORD (err %v)", err)
	}
}

// TestDockerfileTargets: the images the compose file builds exist as
// Dockerfile stages, and the default (last) stage is the app runtime.
func TestDockerfileTargets(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, m := range regexp.MustCompile(`(?m)^FROM \S+ AS (\S+)$`).FindAllStringSubmatch(string(data), -1) {
		stages = append(stages, m[1])
	}
	for _, want := range []string{"build", "tor", "embedded", "runtime"} {
		if !slices.Contains(stages, want) {
			t.Errorf("Dockerfile has no stage %q (stages %v)", want, stages)
		}
	}
	if len(stages) == 0 || stages[len(stages)-1] != "runtime" {
		t.Errorf("the default stage is %v, want runtime last", stages)
	}
	p, err := load(t, "POSTGRES_PASSWORD=x")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Services {
		if s.Build != nil && s.Build.Target != "" && !slices.Contains(stages, s.Build.Target) {
			t.Errorf("%s builds target %q, which the Dockerfile lacks", s.Name, s.Build.Target)
		}
	}
}
