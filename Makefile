# The two commands a newcomer needs. Everything else is under deploy/.
.PHONY: demo test bench down

demo:  ## the whole pipeline on this machine, with a scripted incident to watch (Ctrl-C stops it)
	bash deploy/demo.sh

test:  ## lint and the full test suite on real Kafka and PostgreSQL (what CI runs)
	bash deploy/test.sh

bench:  ## every benchmark on real Kafka and PostgreSQL, tables and plots in benchmarks/results/ (ARGS=--quick for a smoke run)
	bash deploy/bench.sh $(ARGS)

down:  ## stop Kafka and PostgreSQL started by deploy/up.sh
	bash deploy/down.sh
