package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The Apache baselines: Debian's Apache 2.4 with mod_wsgi in daemon mode
// (the long-lived Python process shared hosts offer for speed) and
// mod_cgid (native python3 forked per request). The bench installs
// nothing; without these files the Apache rows are left out and the
// report names the packages.
const (
	apacheBin     = "/usr/sbin/apache2"
	apacheModules = "/usr/lib/apache2/modules"
	// apachePackages are the Debian packages that make the Apache rows
	// appear, with the frameworks the samples import.
	apachePackages = "apache2 libapache2-mod-wsgi-py3 python3-flask python3-webpy python3-bottle python3-django"
	// apacheUser is who Apache's children run as when started by root.
	apacheUser = "www-data"
)

// apacheMissing says why the Apache rows cannot run here, or "" when they
// can.
func apacheMissing() string {
	for _, f := range []string{apacheBin, filepath.Join(apacheModules, "mod_wsgi.so"), filepath.Join(apacheModules, "mod_cgid.so")} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Sprintf("no %s: apt-get install %s", f, apachePackages)
		}
	}
	if os.Geteuid() != 0 {
		return "Apache's children switch to " + apacheUser + ", which needs root"
	}
	return ""
}

// apacheApp is one application Apache serves: file under mod_wsgi daemon
// mode at /w/NAME, or as a CGI script under mod_cgid at /cgi/NAME.
type apacheApp struct {
	file string // a .wsgi application or a .py CGI script
	dir  string // the folder it imports its own modules from
}

// apache is a private Apache 2.4 on a loopback port, run from a generated
// configuration in a folder of its own, without touching the system's.
type apache struct {
	url    string
	dir    string
	cmd    *exec.Cmd
	cpuLog string // a line per CGI script run: its CPU time in ns
}

// startApache copies the apps into a folder www-data can read (a CGI
// script gets the #! line Apache needs) and starts Apache in the
// foreground as a child of this process, which stops it on exit.
func startApache(ctx context.Context, apps []apacheApp) (*apache, error) {
	dir, err := os.MkdirTemp("", "wasigate-bench-apache")
	if err != nil {
		return nil, err
	}
	a := &apache{dir: dir}
	fail := func(err error) (*apache, error) { os.RemoveAll(dir); return nil, err }
	www, run, logs := filepath.Join(dir, "www"), filepath.Join(dir, "run"), filepath.Join(dir, "logs")
	for _, d := range []string{www, run, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	// mkdtemp's 0700 would keep www-data out; the sockets folder must be
	// writable by it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	if err := os.Chmod(run, 0o1777); err != nil {
		return fail(err)
	}
	// The CGI scripts' own CPU time, which Apache's /proc figures lose.
	a.cpuLog = filepath.Join(run, "cgi-cpu")
	if err := os.WriteFile(a.cpuLog, nil, 0o666); err != nil {
		return fail(err)
	}
	if err := os.Chmod(a.cpuLog, 0o666); err != nil {
		return fail(err)
	}
	var conf strings.Builder
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	a.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	fmt.Fprintf(&conf, apacheConfig, dir, port, run, logs, apacheModules, www)
	seen := map[string]bool{}
	for i, app := range apps {
		name := filepath.Base(app.file)
		if err := copyApp(app, www, a.cpuLog, seen); err != nil {
			return fail(err)
		}
		if strings.HasSuffix(name, ".wsgi") {
			fmt.Fprintf(&conf, "WSGIDaemonProcess app%d processes=2 threads=8 python-path=%s display-name=%%{GROUP}\n", i, www)
			fmt.Fprintf(&conf, "WSGIScriptAlias /w/%s %s process-group=app%d application-group=%%{GLOBAL}\n", name, filepath.Join(www, name), i)
		}
	}
	confFile := filepath.Join(dir, "apache.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o644); err != nil {
		return fail(err)
	}
	var out bytes.Buffer
	a.cmd = exec.CommandContext(ctx, apacheBin, "-f", confFile, "-D", "FOREGROUND")
	a.cmd.Stdout, a.cmd.Stderr = &out, &out
	a.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := a.cmd.Start(); err != nil {
		return fail(fmt.Errorf("%s: %w", apacheBin, err))
	}
	exited := make(chan error, 1)
	go func() { exited <- a.cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(logs, "error.log"))
			return fail(fmt.Errorf("apache exited at start: %v: %s%s", err, out.String(), log))
		default:
		}
		if c, err := net.Dial("tcp", a.url[len("http://"):]); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			a.cmd.Process.Signal(syscall.SIGTERM)
			return fail(errors.New("apache did not listen within 20s: " + out.String()))
		}
	}
	go func() { <-exited }()
	return a, nil
}

// apacheConfig is the private Apache: event MPM, both Python modules,
// keep-alive without a request cap (as the Go servers of the other rows
// have). Arguments: ServerRoot, port, run folder, log folder, modules,
// scripts folder.
const apacheConfig = `ServerRoot %[1]s
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile %[3]s/httpd.pid
DefaultRuntimeDir %[3]s
ErrorLog %[4]s/error.log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module %[5]s/mod_mpm_event.so
LoadModule authz_core_module %[5]s/mod_authz_core.so
LoadModule alias_module %[5]s/mod_alias.so
LoadModule mime_module %[5]s/mod_mime.so
LoadModule cgid_module %[5]s/mod_cgid.so
LoadModule wsgi_module %[5]s/mod_wsgi.so
TypesConfig /etc/mime.types
KeepAlive On
MaxKeepAliveRequests 0
ScriptSock %[3]s/cgid.sock
WSGISocketPrefix %[3]s/wsgi
<Directory %[6]s>
  Require all granted
  Options +ExecCGI
</Directory>
ScriptAlias /cgi/ %[6]s/
`

// cgiCPU, put at the top of each CGI script, appends the script's CPU
// time at its exit to a file the bench reads. mod_cgid's daemon ignores SIGCHLD, so
// the kernel reaps its scripts without adding their time to any process
// /proc shows (20 python3 runs of 14 ms each showed as 10 ms in all).
// The script counts itself: all but exec's and exit's share in the kernel.
const cgiCPU = `def _wasigate_bench_cpu():
    import os, time
    fd = os.open(%q, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"%%d\n" %% time.process_time_ns())
    os.close(fd)
__import__("atexit").register(_wasigate_bench_cpu)
`

// copyApp copies app.file (with #!/usr/bin/python3 for a CGI script:
// python3 on PATH may be a Python without Debian's packages) and the
// packages of its folder (djsite/) into www, once per folder.
func copyApp(app apacheApp, www, cpuLog string, seen map[string]bool) error {
	src, err := os.ReadFile(app.file)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(app.file, ".py") {
		src, mode = append([]byte("#!/usr/bin/python3\n"+fmt.Sprintf(cgiCPU, cpuLog)), src...), 0o755
	}
	if err := os.WriteFile(filepath.Join(www, filepath.Base(app.file)), src, mode); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(www, filepath.Base(app.file)), mode); err != nil {
		return err
	}
	if seen[app.dir] {
		return nil
	}
	seen[app.dir] = true
	entries, err := os.ReadDir(app.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "app" {
			continue
		}
		if _, err := os.Stat(filepath.Join(app.dir, e.Name(), "__init__.py")); err != nil {
			continue // not a Python package
		}
		cp := exec.Command("cp", "-R", filepath.Join(app.dir, e.Name()), www)
		if out, err := cp.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(cp.Args, " "), err, out)
		}
		exec.Command("chmod", "-R", "a+rX", filepath.Join(www, e.Name())).Run()
	}
	return nil
}

// freePort asks the kernel for a loopback port that is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stop ends Apache (SIGTERM stops it and its children) and removes its
// folder.
func (a *apache) stop() {
	a.cmd.Process.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if a.cmd.Process.Signal(syscall.Signal(0)) != nil || len(procTree(a.cmd.Process.Pid)) == 0 {
			break
		}
	}
	os.RemoveAll(a.dir)
}

// cpu is the CPU time of Apache and every process under it: live ones'
// own, the ones they have reaped, and the CGI scripts' (cgiCPU).
func (a *apache) cpu() time.Duration {
	var total time.Duration
	for _, st := range procTree(a.cmd.Process.Pid) {
		total += st.cpu
	}
	b, _ := os.ReadFile(a.cpuLog)
	for _, line := range strings.Fields(string(b)) {
		if ns, err := strconv.ParseInt(line, 10, 64); err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}

// procStat is what the bench reads of /proc/PID/stat.
type procStat struct {
	pid, ppid int
	cpu       time.Duration // utime+stime+cutime+cstime
}

// clockTick is USER_HZ, the unit of /proc's times: 100 on every Linux
// architecture Go runs on.
const clockTick = 10 * time.Millisecond

// parseProcStat reads one /proc/PID/stat line. The command name may hold
// spaces and parentheses, so the fields are counted from its last ')'.
func parseProcStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("stat line %q: no command name", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat line %q: %w", line, err)
	}
	f := strings.Fields(line[end+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat line %q: %d fields after the name; want 15 or more", line, len(f))
	}
	st := procStat{pid: pid}
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("stat line %q: %w", line, err)
	}
	for _, s := range f[11:15] { // utime, stime, cutime, cstime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("stat line %q: %w", line, err)
		}
		st.cpu += time.Duration(n) * clockTick
	}
	return st, nil
}

// procTree is root and its descendants as /proc has them now.
func procTree(root int) []procStat {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]procStat{}
	var self *procStat
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		st, err := parseProcStat(string(b))
		if err != nil {
			continue
		}
		if st.pid == root {
			self = &st
		}
		children[st.ppid] = append(children[st.ppid], st)
	}
	if self == nil {
		return nil
	}
	tree := []procStat{*self}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i].pid]...)
	}
	return tree
}
