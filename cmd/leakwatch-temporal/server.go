package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	temporalserver "go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/leakwatch/leakwatch/internal/filelock"
)

const (
	clusterName   = "active"
	storeName     = "sqlite-default"
	defaultNSName = "default"
)

// searchAttributes are the custom search attributes leakwatch's workflows use
// for listing cases; they are registered on the namespace at every start.
func searchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		"CaseState":      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"CaseTarget":     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"CaseInjunction": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// runningServer is a started Temporal server and the port its frontend uses.
type runningServer struct {
	server       temporalserver.Server
	frontendPort int
	unlock       func() // releases the database lock
}

// startServer prepares the SQLite database (schema and namespaces) and starts
// all four Temporal services in this process.
func startServer(ctx context.Context, opts options, logger *slog.Logger) (*runningServer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting server: %w", err)
	}
	dbPath, err := filepath.Abs(opts.dbPath)
	if err != nil {
		return nil, fmt.Errorf("resolving --db %q: %w", opts.dbPath, err)
	}
	// Two servers on one SQLite file would fight over the history shard.
	lock, err := filelock.TryLock(dbPath + ".lock")
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("database %s is in use by another leakwatch-temporal (pid %s)", dbPath, filelock.Holder(dbPath+".lock"))
	}
	if err != nil {
		return nil, err
	}
	release := func() { lock.Unlock() }
	// On success runningServer keeps the lock (and so its file, which the GC
	// would otherwise close) until stopServer.
	started := false
	defer func() {
		if !started {
			release()
		}
	}()

	sqlConf := sqliteConfig(dbPath)
	if err := ensureSchema(sqlConf, dbPath, logger); err != nil {
		return nil, err
	}
	if err := ensureNamespaces(sqlConf, opts); err != nil {
		return nil, err
	}

	ports, err := resolvePorts(opts)
	if err != nil {
		return nil, err
	}
	conf := serverConfig(opts, sqlConf, ports)

	hostPort := func(port int) static.Hosts { return static.SingleLocalHost(joinHostPort(opts.ip, port)) }
	srv, err := temporalserver.NewServer(
		temporalserver.WithConfig(conf),
		temporalserver.ForServices(temporalserver.DefaultServices),
		// Static membership: one node, so no ringpop gossip ports to allocate.
		temporalserver.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: hostPort(ports.frontend),
			primitives.HistoryService:  hostPort(ports.history),
			primitives.MatchingService: hostPort(ports.matching),
			primitives.WorkerService:   hostPort(ports.worker),
		}),
		temporalserver.WithLogger(newServerLogger(logger.With("component", "temporal"))),
		temporalserver.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporalserver.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
			return authorization.NewNoopClaimMapper()
		}),
		temporalserver.WithDynamicConfigClient(dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("creating server: %w", err)
	}
	logger.Info("starting temporal server",
		"db", dbPath, "frontend", ports.frontend, "history", ports.history,
		"matching", ports.matching, "worker", ports.worker)
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting server on %s: %w", joinHostPort(opts.ip, ports.frontend), err)
	}
	started = true
	return &runningServer{server: srv, frontendPort: ports.frontend, unlock: release}, nil
}

func stopServer(s *runningServer, logger *slog.Logger) {
	if err := s.server.Stop(); err != nil {
		logger.Error("stopping server", "error", err)
	}
	s.unlock()
}

// sqliteConfig mirrors `temporal server start-dev --db-filename`: WAL so readers
// do not block the writer, synchronous=NORMAL (safe with WAL, much faster), and
// a single connection, which measured faster than several on SQLite.
func sqliteConfig(dbPath string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbPath,
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "NORMAL",
		},
		MaxConns:     1,
		MaxIdleConns: 1,
	}
}

// ensureSchema creates the Temporal schema when the database file is new.
func ensureSchema(sqlConf *config.SQL, dbPath string, logger *slog.Logger) error {
	st, err := os.Stat(dbPath)
	switch {
	case err == nil && st.Size() > 0:
		return nil
	case err == nil:
		// An empty file is what a crash before the first write leaves; treat it as new.
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(dbPath)); err != nil {
			return fmt.Errorf("checking directory of database %s: %w", dbPath, err)
		}
	default:
		return fmt.Errorf("checking database %s: %w", dbPath, err)
	}
	logger.Info("creating temporal schema", "db", dbPath)
	if err := sqliteschema.SetupSchema(sqlConf); err != nil {
		// Remove the half-made file so the next start tries again from scratch
		// instead of failing on "table already exists".
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(dbPath + suffix)
		}
		return fmt.Errorf("creating temporal schema in %s: %w", dbPath, err)
	}
	return nil
}

// ensureNamespaces inserts the namespaces straight into the database before the
// server starts, so they exist from the first request instead of after a
// namespace-cache refresh. Existing namespaces are left alone here; waitReady
// reconciles their retention and search attributes through the API.
func ensureNamespaces(sqlConf *config.SQL, opts options) error {
	var nss []*sqliteschema.NamespaceConfig
	for _, name := range namespaceNames(opts.namespace) {
		nsConf, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, searchAttributes())
		if err != nil {
			return fmt.Errorf("preparing namespace %q: %w", name, err)
		}
		if name == opts.namespace {
			nsConf.Detail.Config.Retention = durationpb.New(opts.retention)
		}
		nss = append(nss, nsConf)
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, nss...); err != nil {
		return fmt.Errorf("creating namespaces: %w", err)
	}
	return nil
}

func namespaceNames(ns string) []string {
	if ns == defaultNSName {
		return []string{ns}
	}
	return []string{ns, defaultNSName}
}

type servicePorts struct {
	frontend, history, matching, worker int
}

// resolvePorts fills in free ports for the services left at 0 and checks that
// the frontend port is free, so a collision fails fast with a clear message.
func resolvePorts(opts options) (servicePorts, error) {
	p := servicePorts{frontend: opts.port, history: opts.historyPort, matching: opts.matchingPort, worker: opts.workerPort}
	if p.frontend != 0 {
		if err := checkPortFree(opts.ip, p.frontend); err != nil {
			return p, fmt.Errorf("frontend port %d is not free: %w", p.frontend, err)
		}
	}
	taken := map[int]bool{}
	for _, port := range []*int{&p.frontend, &p.history, &p.matching, &p.worker} {
		if *port != 0 {
			if taken[*port] {
				return p, fmt.Errorf("port %d given for two services", *port)
			}
			taken[*port] = true
		}
	}
	for _, port := range []*int{&p.frontend, &p.history, &p.matching, &p.worker} {
		for *port == 0 {
			free, err := freePort(opts.ip)
			if err != nil {
				return p, err
			}
			if !taken[free] {
				*port = free
				taken[free] = true
			}
		}
	}
	return p, nil
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", joinHostPort(ip, 0))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func checkPortFree(ip string, port int) error {
	l, err := net.Listen("tcp", joinHostPort(ip, port))
	if err != nil {
		return err
	}
	return l.Close()
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func serverConfig(opts options, sqlConf *config.SQL, ports servicePorts) *config.Config {
	frontendAddr := joinHostPort(opts.ip, ports.frontend)
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = opts.ip

	conf.Persistence.DefaultStore = storeName
	conf.Persistence.VisibilityStore = storeName
	// One shard: a single node on SQLite gains nothing from more, and the
	// shard count can never change after the database is created.
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{storeName: {SQL: sqlConf}}

	httpAddr := ""
	if opts.httpPort != 0 {
		httpAddr = joinHostPort(opts.ip, opts.httpPort)
	}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				HTTPAddress:            httpAddr,
				// Only used when the cluster record is first written; later
				// starts keep the ID stored in the database.
				ClusterID: uuid.NewString(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	service := func(port, httpPort int) config.Service {
		var s config.Service
		s.RPC.GRPCPort = port
		s.RPC.BindOnIP = opts.ip
		s.RPC.HTTPPort = httpPort
		return s
	}
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): service(ports.frontend, opts.httpPort),
		string(primitives.HistoryService):  service(ports.history, 0),
		string(primitives.MatchingService): service(ports.matching, 0),
		string(primitives.WorkerService):   service(ports.worker, 0),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service dials the frontend through this; the server panics without it.
	conf.PublicClient.HostPort = frontendAddr
	return &conf
}

// dynamicConfig holds the single-node tweaks `temporal server start-dev` makes.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// The UI and `list` calls hit visibility hard; 10 RPS (default) throttles them.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// Smaller mutable-state cache: one node with modest memory.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8096,
		// Newly added search attributes are usable at once instead of after a cache refresh.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// Bypassing that cache costs persistence reads; raise the caps to match.
		dynamicconfig.FrontendPersistenceMaxQPS.Key(): 10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():  45000,
	}
}
