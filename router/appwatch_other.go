//go:build !linux

package router

import "errors"

// dirWatcher: no watching here; every request walks the folder.
type dirWatcher struct{}

func newDirWatcher() (*dirWatcher, error) {
	return nil, errors.New("watching folders is implemented on Linux only")
}

func (w *dirWatcher) add(string) error       { return nil }
func (w *dirWatcher) addFile(string) error   { return nil }
func (w *dirWatcher) changed() (bool, error) { return true, nil }
func (w *dirWatcher) close()                 {}
