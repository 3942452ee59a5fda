// TG_LEASE(name), for SqlStore's member functions: declares `name`, a connection leased for the
// rest of the enclosing function, or returns the lease's error. Callers mark it broken when a
// statement fails, so it is replaced.
#pragma once

#define TG_LEASE(name)                            \
  auto name##_lease = lease();                    \
  if (!name##_lease) return name##_lease.error(); \
  Lease& name = name##_lease.value()
