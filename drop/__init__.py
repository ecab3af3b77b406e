"""Product Drop: limited-inventory drops run as provably fair lotteries."""
