# The two commands a newcomer needs. Everything else is under deploy/.
.PHONY: demo test unit bench down

demo:  ## the whole pipeline on this machine, with a scripted incident to watch (Ctrl-C stops it)
	bash deploy/demo.sh

test:  ## lint, the unit tests, then the integration tests on real Kafka and PostgreSQL (what CI runs)
	bash deploy/test.sh

unit:  ## the unit tests alone (tests/unit), in seconds: starts no Kafka, no PostgreSQL, no browser
	bash deploy/test.sh --unit

bench:  ## every benchmark on real Kafka and PostgreSQL, tables and plots in benchmarks/results/ (ARGS=--quick for a smoke run)
	bash deploy/bench.sh $(ARGS)

down:  ## stop Kafka and PostgreSQL started by deploy/up.sh
	bash deploy/down.sh
