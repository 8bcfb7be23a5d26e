package router

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// errNotInVolume is the error of an X-Sendfile path no volume of the route
// holds.
var errNotInVolume = errors.New("not inside one of the route's volumes")

// sendfileResolver opens an X-Sendfile guest path in the route's volumes,
// through an os.Root of each so that neither .. nor a symbolic link leads
// out of the volume. The longest guest path that holds the file is its
// volume, as in the guest's own view. Only a regular file is opened,
// without blocking (openRegular: a FIFO there held the request past its
// timeout). close releases the roots when the site is retired.
func sendfileResolver(vols []seam.Mount) (resolve func(string) (host.SendfileFile, error), close func(), err error) {
	type root struct {
		guest string
		root  *os.Root
	}
	var roots []root
	close = func() {
		for _, r := range roots {
			r.root.Close()
		}
	}
	for _, v := range vols {
		r, err := os.OpenRoot(v.Host)
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("sendfile: volume %s: %w", v.Guest, err)
		}
		roots = append(roots, root{guest: path.Clean(v.Guest), root: r})
	}
	resolve = func(p string) (host.SendfileFile, error) {
		if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
			return nil, errNotInVolume
		}
		p = path.Clean(p)
		best := -1
		rel := ""
		for i, r := range roots {
			var rest string
			switch {
			case r.guest == "/":
				rest = strings.TrimPrefix(p, "/")
			case p == r.guest:
				rest = ""
			case strings.HasPrefix(p, r.guest+"/"):
				rest = p[len(r.guest)+1:]
			default:
				continue
			}
			if best < 0 || len(r.guest) > len(roots[best].guest) {
				best, rel = i, rest
			}
		}
		if best < 0 {
			return nil, errNotInVolume
		}
		if rel == "" {
			rel = "."
		}
		f, err := openRegular(roots[best].root, rel)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return f, nil
	}
	return resolve, close, nil
}

// sendfile is the route's X-Sendfile resolver, or nil when the route does
// not set sendfile; its roots close with the site.
func (sc *scope) sendfile(rt *Route, vols []seam.Mount) (func(string) (host.SendfileFile, error), error) {
	if !rt.Sendfile {
		return nil, nil
	}
	resolve, closeRoots, err := sendfileResolver(vols)
	if err != nil {
		return nil, err
	}
	sc.parts.closers = append(sc.parts.closers, closeRoots)
	return resolve, nil
}
