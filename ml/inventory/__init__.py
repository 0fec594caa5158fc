"""Inventory policy maths: lead times, service levels, safety stock, order quantities, allocation,
multi-echelon placement and the policy backtest simulator. Plain numpy/pandas, no Dagster."""
