package router

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wasigate/wasigate/host"
)

// ErrorPageStatuses are the statuses an [errors] table may give a page, as
// Apache's ErrorDocument
// (cmd/wasigate/DECISIONS.md#wagi-and-apache-compatibility).
var ErrorPageStatuses = []int{404, 413, 429, 500, 502, 503, 504}

// MaxErrorPage bounds an error page file: pages are held in memory.
const MaxErrorPage = 1 << 20

// errorPage is a loaded page.
type errorPage struct {
	body        []byte
	contentType string
}

// errorPages are the pages of a site or a tenant, by status.
type errorPages map[int]errorPage

// problems reports the keys of an [errors] table that are not one of
// ErrorPageStatuses, or name no file, for Validate.
func errorPageProblems(table map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(table) {
		n, err := strconv.Atoi(k)
		ok := err == nil
		if ok {
			ok = false
			for _, s := range ErrorPageStatuses {
				ok = ok || s == n
			}
		}
		if !ok {
			out = append(out, fmt.Sprintf("errors: %q is not a status with a page (want one of %v)", k, ErrorPageStatuses))
		}
		if table[k] == "" {
			out = append(out, fmt.Sprintf("errors: %s names no file", k))
		}
	}
	return out
}

// loadErrorPages reads the [errors] table's files, relative to the
// configuration, over base (a tenant's pages override the server's).
func loadErrorPages(cfg *Config, table map[string]string, base errorPages) (errorPages, error) {
	out := errorPages{}
	for k, v := range base {
		out[k] = v
	}
	for _, k := range sortedKeys(table) {
		n, _ := strconv.Atoi(k) // checked by Validate
		p := cfg.Abs(table[k])
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("errors: %s: %w", k, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, MaxErrorPage+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("errors: %s: %w", k, err)
		}
		if len(b) > MaxErrorPage {
			return nil, fmt.Errorf("errors: %s: %s is larger than %d bytes", k, p, MaxErrorPage)
		}
		ct := mime.TypeByExtension(filepath.Ext(p))
		if ct == "" {
			ct = "text/html; charset=utf-8"
		}
		out[n] = errorPage{body: b, contentType: ct}
	}
	return out, nil
}

// pageState is the pages that apply to one request: the server's, until a
// tenant's handler puts its own.
type pageState struct{ pages errorPages }

type pageKey struct{}

// withErrorPages is the middleware that answers the server's own errors
// (those with a reason: no route, timeout, a guest's invalid output, a
// limit) with the configured page and the same status. A guest's own
// error response is its to shape and passes unchanged. The access log,
// outside, keeps the reason. nil pages (no [errors] table anywhere)
// change nothing.
func withErrorPages(pages errorPages) func(http.Handler) http.Handler {
	if pages == nil {
		return passThrough
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := &pageState{pages: pages}
			pw := &pageWriter{ResponseWriter: w, st: st, info: host.InfoFrom(r.Context())}
			next.ServeHTTP(pw, r.WithContext(context.WithValue(r.Context(), pageKey{}, st)))
		})
	}
}

// tenantErrorPages makes a tenant's pages the ones that apply; nil (no
// [errors] table anywhere) changes nothing.
func tenantErrorPages(pages errorPages) func(http.Handler) http.Handler {
	if pages == nil {
		return passThrough
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st, ok := r.Context().Value(pageKey{}).(*pageState); ok {
				st.pages = pages
			}
			next.ServeHTTP(w, r)
		})
	}
}

// pageWriter replaces the body of an error response the server wrote.
type pageWriter struct {
	http.ResponseWriter
	st       *pageState
	info     *host.Info
	wrote    bool
	replaced bool
}

func (p *pageWriter) WriteHeader(code int) {
	if code < 200 || p.wrote {
		p.ResponseWriter.WriteHeader(code)
		return
	}
	p.wrote = true
	page, ok := p.st.pages[code]
	if !ok || p.info.Reason == "" {
		p.ResponseWriter.WriteHeader(code)
		return
	}
	h := p.Header()
	h.Set("Content-Type", page.contentType)
	h.Set("Content-Length", strconv.Itoa(len(page.body)))
	p.ResponseWriter.WriteHeader(code)
	_, _ = p.ResponseWriter.Write(page.body)
	p.replaced = true
}

func (p *pageWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	if p.replaced {
		return len(b), nil // the server's plain text, replaced by the page
	}
	return p.ResponseWriter.Write(b)
}

// Flush implements http.Flusher, for streamed guest output.
func (p *pageWriter) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (p *pageWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// loadPages loads the server's and the tenants' error pages, naming the
// file and the tenant in errors.
func (p *siteParts) loadPages(cfg *Config) error {
	set := len(cfg.Errors) > 0
	for _, t := range cfg.Tenants {
		set = set || len(t.Errors) > 0
	}
	if !set {
		return nil
	}
	pages, err := loadErrorPages(cfg, cfg.Errors, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.File, err)
	}
	p.pages, p.tenantPages = pages, map[string]errorPages{}
	for i, t := range cfg.Tenants {
		tp, err := loadErrorPages(cfg, t.Errors, pages)
		if err != nil {
			return fmt.Errorf("%s: tenant #%d %q: %w", cfg.File, i+1, t.Name, err)
		}
		p.tenantPages[t.Name] = tp
	}
	return nil
}
