//go:build !linux

package snap

import "io/fs"

// statExtra: size and modification time only beyond Linux.
func statExtra(fs.FileInfo) string { return "" }
