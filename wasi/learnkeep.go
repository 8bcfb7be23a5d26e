package wasi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wasigate/wasigate/wasi/seal"
)

// The learned list kept in the cache folder decides what a restart's init
// imports, so it is signed as the stored snapshots are (wasi/internal/snap):
// learned/NAME.json with its HMAC in learned-sig/NAME.json, made with the
// cache's key. The file also names the interpreter it was learned for (its
// NAME, a hash of the module and the init's inputs), so that a list signed
// for another interpreter, copied over this one's, is refused too. A list
// that fails either check is deleted, told once (a RetakeEvent with no
// reason and the error), and learned again from the requests; a list kept
// by a version that did not sign it is refused the same way once. With a
// list refused the worst left is the one a guest can report anyway:
// validated names of installed modules.

// learnedVersion changes when the kept list's format does.
const learnedVersion = 1

// learnedFile is the list as kept in the cache folder.
type learnedFile struct {
	Version int      `json:"version"`
	For     string   `json:"for"` // the file's NAME: the interpreter it is for
	Names   []string `json:"names"`
}

// errLearnedRefused: the kept list failed its signature or was kept for
// another interpreter.
var errLearnedRefused = errors.New("the kept learned preload list is refused; the list is learned again from the requests")

// learnedSig is where the signature of the kept list file is.
func learnedSig(file string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "learned-sig", filepath.Base(file))
}

// loadLearned reads the list kept in file, checked against its signature
// with key and its interpreter. Missing, it is nothing (nil, nil); refused,
// it is deleted and the error says why.
func loadLearned(key *seal.Key, file string, max int, ruby bool) ([]string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && len(b) > 1<<20 {
		err = fmt.Errorf("%s: %d bytes", file, len(b))
	}
	if err == nil {
		err = key.VerifyBytes(b, file, learnedSig(file))
	}
	var f learnedFile
	if err == nil {
		if json.Unmarshal(b, &f) != nil || f.Version != learnedVersion || f.For != filepath.Base(file) {
			err = fmt.Errorf("%s: written for another interpreter or version", file)
		}
	}
	if err != nil {
		_ = os.Remove(file)
		_ = os.Remove(learnedSig(file))
		return nil, fmt.Errorf("%w: %w", errLearnedRefused, err)
	}
	return validLearned(f.Names, max, ruby), nil
}

// readLearned reads the names of a kept list, unchecked; a missing or
// corrupt file, or a name that is not one, is ignored.
func readLearned(file string, max int, ruby bool) []string {
	b, err := os.ReadFile(file)
	if err != nil || len(b) > 1<<20 {
		return nil
	}
	var f learnedFile
	if json.Unmarshal(b, &f) != nil {
		return nil
	}
	return validLearned(f.Names, max, ruby)
}

// validLearned returns the valid names of list, without repeats, at most
// max.
func validLearned(list []string, max int, ruby bool) []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range list {
		if len(names) < max && !seen[n] && validLearnName(n, ruby) {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

// writeLearned keeps the list, replacing the file whole, and signs it
// with key.
func writeLearned(key *seal.Key, file string, names []string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(learnedFile{Version: learnedVersion, For: filepath.Base(file), Names: names})
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	return key.Sign(file, learnedSig(file))
}
