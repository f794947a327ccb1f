// Command static stands in for the brisk binary in the image builder's tests.
package main

func main() {}
