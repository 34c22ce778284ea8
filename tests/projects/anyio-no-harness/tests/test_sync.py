from ratelimit import TokenBucket


def test_a_sync_test_in_the_same_suite():
    bucket = TokenBucket(rate=1, capacity=1, clock=lambda: 0.0)
    assert bucket.try_acquire() and not bucket.try_acquire()
