// Command hello is the demo project that attestor's local pipeline builds.
package main

import "fmt"

func main() {
	fmt.Println("hello from a build with a verified supply chain")
}
