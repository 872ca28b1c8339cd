// Package vm holds the tests that need a real kernel IPVS, and the host
// test that runs them: TestVM builds a static copy of this package's tests
// and of xvsadm, boots Debian's kernel under qemu (scripts/vm/run.sh) and
// asserts the results the VM prints on its console. The tests that run
// inside the VM (TestInVM*) skip unless XVS_IN_VM=1, which only the VM's
// init sets.
package vm
