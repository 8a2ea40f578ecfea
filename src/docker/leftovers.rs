//! Listing what rslim runs left on the engine: containers and volumes with
//! rslim's owner label, and temporary tags (`rslim-tmp/...`). What to
//! remove is decided in `crate::leftovers`; only the calls are here.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};

use super::{api_failure, status, Docker, OWNER_LABEL, TEMP_REPOSITORY};
use crate::error::Result;

/// A container with rslim's owner label.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// The container's name (without Docker's leading `/`), or the volume's.
    pub name: String,
    /// The owner label's value.
    pub owner: String,
}

impl Docker {
    /// Every container, running or not, that carries rslim's owner label.
    pub async fn labelled_containers(&self) -> Result<Vec<Labelled>> {
        let filters = HashMap::from([("label", vec![OWNER_LABEL])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .api
            .list_containers(Some(options))
            .await
            .map_err(|e| api_failure("cannot list rslim's containers".into(), e))?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let owner = c.labels?.remove(OWNER_LABEL)?;
                let name = c
                    .names
                    .and_then(|names| names.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .or(c.id)?;
                Some(Labelled { name, owner })
            })
            .collect())
    }

    /// Every volume that carries rslim's owner label (Docker labels the
    /// anonymous volumes rslim's containers mount; Podman's compatible API
    /// drops those labels, and its volumes go with their containers).
    pub async fn labelled_volumes(&self) -> Result<Vec<Labelled>> {
        let filters = HashMap::from([("label", vec![OWNER_LABEL])]);
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let listed = self
            .api
            .list_volumes(Some(options))
            .await
            .map_err(|e| api_failure("cannot list rslim's volumes".into(), e))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut v| {
                let owner = v.labels.remove(OWNER_LABEL)?;
                Some(Labelled {
                    name: v.name,
                    owner,
                })
            })
            .collect())
    }

    /// Removes a volume; `false` when it was gone already. A volume still in
    /// use is an error.
    pub async fn remove_volume(&self, name: &str) -> Result<bool> {
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        match self.api.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(api_failure(format!("cannot remove volume {name}"), e)),
        }
    }

    /// Every temporary tag (`rslim-tmp/...`, `localhost/rslim-tmp/...` on
    /// Podman) on the engine, as the engine spells it.
    pub async fn temporary_tags(&self) -> Result<Vec<String>> {
        let options = ListImagesOptionsBuilder::default().all(false).build();
        let listed = self
            .api
            .list_images(Some(options))
            .await
            .map_err(|e| api_failure("cannot list the engine's images".into(), e))?;
        let prefix = format!("{TEMP_REPOSITORY}/");
        Ok(listed
            .into_iter()
            .flat_map(|image| image.repo_tags)
            .filter(|tag| {
                tag.strip_prefix("localhost/")
                    .unwrap_or(tag)
                    .starts_with(&prefix)
            })
            .collect())
    }
}
