package store

import "syscall"

var syscallENOSPC error = syscall.ENOSPC
