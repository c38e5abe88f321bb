package grafeas_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
)

// TestConformanceOSSPostgres runs the suite against the open-source server
// on its PostgreSQL store (the production setup), with a throwaway
// cluster made by initdb and pg_ctl under a temporary directory. As root,
// PostgreSQL runs as the postgres user (it refuses to run as root).
func TestConformanceOSSPostgres(t *testing.T) {
	grafeasServer(t) // skips in -short mode or without the server
	hostPort := startPostgres(t)
	s := startServerWith(t, false, fmt.Sprintf(
		"  storage_type: \"postgres\"\n  postgres:\n    host: %q\n    dbname: \"grafeas\"\n    user: \"postgres\"\n    password: \"\"\n    sslmode: \"disable\"\n    paginationkey:\n",
		hostPort))
	t.Run("Suite", func(t *testing.T) { // returns when its parallel subtests are done
		storetest.Run(t, storetest.Config{
			New:     func(t *testing.T) store.Store { return newOSSClient(t, s, "postgres") },
			Subject: imageSubject,
		})
	})
	// Another project's occurrences (the suite's) make the store's page
	// tokens loop (it compares a row id with a count): its last page has a
	// token that starts the listing again. The listing must still end.
	t.Run("PaginationAcrossProjects", func(t *testing.T) {
		other := newOSSClient(t, s, "postgres-other")
		subj := imageSubject(t)
		a := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "other project")
		if err := other.Put(t.Context(), subj, a); err != nil {
			t.Fatal(err)
		}
		got, err := other.Get(t.Context(), subj)
		if err != nil {
			t.Fatal(err)
		}
		storetest.Equal(t, got, a)
		var page struct {
			NextPageToken string `json:"nextPageToken"`
		}
		getJSON(t, s, "/v1beta1/projects/postgres-other/occurrences?pageSize=1000", &page)
		if page.NextPageToken == "" {
			t.Log("the server's pagination bug did not show (a last page without a token)")
		}

		// Several pages.
		paged := newOSSClient(t, s, "postgres-other", grafeas.WithPageSize(2))
		want := []store.Attestation{a}
		for i := range 4 {
			want = append(want, storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", fmt.Sprint("paged ", i)))
		}
		if err := paged.Put(t.Context(), subj, want...); err != nil {
			t.Fatal(err)
		}
		if got, err = paged.Get(t.Context(), subj); err != nil {
			t.Fatal(err)
		}
		storetest.Equal(t, got, want...)
	})
}

// startPostgres starts a throwaway PostgreSQL cluster on a free loopback
// port and returns its host:port. It skips the test when PostgreSQL is not
// installed, unless ATTESTOR_REQUIRE_TOOLS=1.
func startPostgres(t *testing.T) string {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
			t.Fatalf(format+" (ATTESTOR_REQUIRE_TOOLS=1; run .ci/setup)", args...)
		}
		t.Skipf(format+" (install Debian postgresql or run .ci/setup)", args...)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(bins)
	var binDir string
	if len(bins) > 0 {
		binDir = filepath.Dir(bins[len(bins)-1])
	} else if p, err := exec.LookPath("pg_ctl"); err == nil {
		binDir = filepath.Dir(p)
	} else {
		skip("no PostgreSQL (pg_ctl) found")
	}
	// As root, run PostgreSQL as the postgres user.
	var wrap []string
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skip("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			skip("running as root and there is no runuser: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		wrap = []string{runuser, "-u", "postgres", "--"}
	}
	root, err := os.MkdirTemp("", "attestor-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if uid >= 0 {
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(timeout time.Duration, name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		argv := append(append(append([]string{}, wrap...), filepath.Join(binDir, name)), args...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(root, "data")
	if err := run(2*time.Minute, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, root)
	if err := run(time.Minute, "pg_ctl", "-D", data, "-l", filepath.Join(root, "log"), "-o", opts, "-w", "-t", "50", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(root, "log"))
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(func() {
		if err := run(time.Minute, "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "50", "stop"); err != nil {
			t.Logf("stopping PostgreSQL: %v", err)
		}
	})
	return fmt.Sprintf("127.0.0.1:%d", port)
}
