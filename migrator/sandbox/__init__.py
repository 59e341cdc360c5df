"""A local manatee shard for rehearsals, demos and tests (loopback only).

`migrator sandbox up` starts a real ZooKeeper (zkserver), N zones each with a real
sshd (sshd, zones) and a simulated manatee-sitter process (sitter), and writes
DIR/inventory.yaml (inventory_file) so every other command can target it.

  config          DIR/sandbox.json: zones, ports, options; the directory layout
  manage          up / down / reprovision / stop-peer / start-peer, bounded waits
  procs           detached processes by pid file; stopping exactly those
  sitter          one zone's sitter process: event loop over ZooKeeper watches
  zkpeer          the sitter's ZooKeeper side (election node, watches, putClusterState)
  peer_v1         v1: roles by election order, v1 history records
  peer_v2         v2: manatee-state-machine's peer (roles from /state, takeovers)
  pgsim           the simulated postgres: WAL, replication streams, the write port
  pgwire          its JSON-lines wire and a peer's postgres address (the clients' side)
  pgreal          a real PostgreSQL server per zone (`--pg real`), driven by the sitter
  pgdata, pgquery its installation, template and leftovers; queries on the servers
  pgapi           the narrow postgres interface the peers drive (sim or real)
  pgclient, verify  the write client on real postgres; `sandbox verify`
  bunyan          bunyan records and Node's inspect notation for messages
  adm             the zones' manatee-adm (its entry: version, pg-position); admzk: its
                  ZooKeeper reads (status, show...); admwrites: its writes
                  (state-backfill, freeze, unfreeze, rebuild); admerror: its error
  zonectl         the zones' sitter-ctl (svcadm-like)
  client          the Moray-like writer and its outage windows
  status          `sandbox status` document
  logwatch, waits bounded waits on sitter logs (tail -F) and on ZooKeeper watches
  rehearsal       `sandbox rehearse`: the runbook's migration, scripted
  nodes           --access zlogin: compute nodes (zlogin, svcs -z, a zones root)
  headnode        --access zlogin: the headnode's sdc-vmapi, sdc-cnapi, sdc-sapi,
                  sdc-imgapi, manta-adm, sapiadm
  fleetlayout     `up --shards K`: --nodes per shard, shard names, addresses (pure)
  fleetup         `up --shards K`: K shard sandboxes on one ZooKeeper and headnode
  fleetview       `sandbox status` / `verify` of a fleet's top directory, by shard
"""
