"""The checks, one module per notebook. Each module registers its exercises with @exercise."""
