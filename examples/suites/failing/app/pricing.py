def total(prices):
    if not prices:
        raise ValueError("no prices")  # FAILS-HERE: the integration failure is raised on this line
    return sum(prices)
