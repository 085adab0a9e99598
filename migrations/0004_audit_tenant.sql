-- The audit log records the tenant a change belongs to, so it can be filtered by tenant.

ALTER TABLE audit_log ADD COLUMN tenant TEXT;
UPDATE audit_log SET tenant = split_part(object_id, '/', 1) WHERE object_type = 'route';
UPDATE audit_log SET tenant = object_id WHERE object_type = 'tenant';
CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
