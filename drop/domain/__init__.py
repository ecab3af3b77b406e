"""Pure core domain of Product Drop: rules, pricing, fairness. Standard library only."""
