// Package deploy holds the tests of the deployment files at the top of the
// repository (docker-compose.yml and the Dockerfile): that they load with
// the Compose Spec parser docker compose itself uses, and that the stack
// they describe has every part a production deployment needs.
package deploy
