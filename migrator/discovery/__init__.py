"""`migrator inventory discover`: build a complete inventory by asking the headnode.

  headnode_inventory  the headnode-only inventory (HEADNODE.yaml) and its command templates
  parse               pure parsing of the headnode's and ZooKeeper's answers
  build               asking (headnode over SSH, ZooKeeper) and assembling the inventory
  written             the text written: YAML from data, provenance as inert comments
"""
